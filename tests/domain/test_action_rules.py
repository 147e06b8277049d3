"""An action's settings become the rules attribution applies (docs/attribution.md: Vocabulary)."""

from __future__ import annotations

from typing import Any

from domain.attribution import ActionRules
from domain.conversion_action import ActionSettings
from domain.values import Money

SETTINGS = ActionSettings(
    name="Buy", category="purchase", rules=(("exact", "https://shop.example/thanks"),),
    value_mode="fixed", value=(4990, "EUR"), click_window_days=90, view_window_days=1,
    counting="each", attribution="last_touch_last_campaign", campaign_ids=("c1", "c2"),
    enabled=True)


def test_settings_become_the_rules_attribution_applies() -> None:
    rules = ActionRules.from_settings("a1", SETTINGS.as_dict())
    assert rules == ActionRules("a1", 90, 1, "each", "last_touch_last_campaign",
                                frozenset({"c1", "c2"}), "fixed", Money(4990, "EUR"))


def test_settings_without_a_value_give_rules_without_one() -> None:
    data = SETTINGS.as_dict() | {"value_mode": "dynamic", "value": None}
    assert ActionRules.from_settings("a1", data).value is None


def test_rules_kept_under_the_settings_names_read_back_as_they_were() -> None:
    # A conversion stores the rules it was attributed under with these names (and its action
    # id); reading them back goes through the same mapping as the settings.
    rules = ActionRules.from_settings("a1", SETTINGS.as_dict())
    stored: dict[str, Any] = {
        "action_id": rules.action_id, "click_window_days": rules.click_window_days,
        "view_window_days": rules.view_window_days, "counting": rules.counting,
        "attribution": rules.attribution, "campaign_ids": sorted(rules.campaign_ids),
        "value_mode": rules.value_mode, "value": {"amount_minor": 4990, "currency": "EUR"}}
    assert ActionRules.from_settings(stored["action_id"], stored) == rules
