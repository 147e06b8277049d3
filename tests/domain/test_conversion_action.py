"""The ConversionAction aggregate: settings validated as a whole, per-concern change events,
archiving, and replay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.conversion_action import (
    MAX_RULES,
    ActionArchived,
    ActionSettings,
    ConversionAction,
    merge_settings,
)
from domain.validation import Invalid

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def settings(**overrides: Any) -> ActionSettings:
    base = ActionSettings(
        name="Buy", category="purchase", rules=(("exact", "https://shop.example/thanks"),),
        value_mode="dynamic", value=None, click_window_days=30, view_window_days=7,
        counting="each", attribution="last_touch_each_campaign", campaign_ids=("c1",),
        enabled=True)
    return replace(base, **overrides)


def replay(events: Sequence[Any]) -> ConversionAction:
    """The aggregate rebuilt from its events alone."""
    action = project_aggregate(None, events)
    assert isinstance(action, ConversionAction)
    return action


def pending(aggregate: Aggregate) -> list[Any]:
    """The events the aggregate recorded since last asked (typed loosely: each is concrete)."""
    return list(aggregate.collect_events())


def new_action(**overrides: Any) -> ConversionAction:
    return ConversionAction.define("tag-1", settings(**overrides), actor="account:a",
                                   occurred_at=T0)


def problem(**overrides: Any) -> tuple[str | None, str]:
    """The field and code of the Invalid raised for these settings."""
    with pytest.raises(Invalid) as caught:
        settings(**overrides).check()
    return caught.value.field, caught.value.code


def test_a_defined_action_holds_its_checked_settings_and_is_enabled() -> None:
    action = new_action(name="  Buy  ")
    assert action.tag_id == "tag-1"
    assert action.settings == settings()  # the name is stripped
    assert (action.archived, action.status) == (False, "enabled")
    (created,) = pending(action)
    assert get_topic(type(created)) == "convtrack:ConversionAction.Created"
    assert (created.actor, created.occurred_at) == ("account:a", T0)
    assert created.settings["rules"] == [{"match": "exact", "url": "https://shop.example/thanks"}]


def test_a_campaign_linked_twice_is_kept_once() -> None:
    action = new_action(campaign_ids=("c1", "c2", "c1"))
    assert action.settings.campaign_ids == ("c1", "c2")


def test_a_disabled_action_has_the_disabled_status() -> None:
    assert new_action(enabled=False).status == "disabled"


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"name": "  "}, ("name", "empty")),
    ({"name": "x" * 201}, ("name", "too_long")),
    ({"category": "shopping"}, ("category", "not_allowed")),
    ({"rules": (("regex", "https://a.example/"),)}, ("rules[0].match", "not_allowed")),
    ({"rules": (("exact", "https://a.example/"), ("contains", "  "))}, ("rules[1].url", "empty")),
    ({"rules": (("exact", "/thanks"),)}, ("rules[0].url", "not_absolute")),
    ({"rules": (("starts_with", "shop.example/"),)}, ("rules[0].url", "not_absolute")),
    ({"rules": (("contains", "https://a.example/" + "x" * 2048),)}, ("rules[0].url", "too_long")),
    ({"rules": (("contains", "/thanks"),) * (MAX_RULES + 1)}, ("rules", "too_many")),
    ({"value_mode": "sometimes"}, ("value_mode", "not_allowed")),
    ({"value_mode": "fixed", "value": None}, ("value", "required")),
    ({"value": (-1, "USD")}, ("value.amount_minor", "negative_amount")),
    ({"value": (100, "usd")}, ("value.currency", "invalid_currency")),
    ({"value": (100, "ABC")}, ("value.currency", "unknown_currency")),
    ({"click_window_days": 14}, ("click_window_days", "invalid_window")),
    ({"view_window_days": 0}, ("view_window_days", "invalid_window")),
    ({"category": "download", "click_window_days": 365},
     ("click_window_days", "window_not_allowed_for_category")),
    ({"category": "sign_up", "view_window_days": 365},
     ("view_window_days", "window_not_allowed_for_category")),
    ({"counting": "all"}, ("counting", "not_allowed")),
    ({"attribution": "data_driven"}, ("attribution", "not_allowed")),
    ({"campaign_ids": tuple(f"c{i}" for i in range(1001))}, ("campaign_ids", "too_many")),
])
def test_invalid_settings_are_refused_naming_the_field(
    overrides: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert problem(**overrides) == expected


def test_a_contains_rule_may_be_a_piece_of_a_url() -> None:
    settings(rules=(("contains", "/thanks"),)).check()


def test_an_action_without_rules_is_valid_for_the_server_api() -> None:
    settings(rules=()).check()


@pytest.mark.parametrize("model", ["first_touch", "linear", "time_decay", "position_based"])
def test_an_action_may_use_a_fractional_model(model: str) -> None:
    assert settings(attribution=model).check().attribution == model


@pytest.mark.parametrize("category", [
    "lead", "qualified_lead", "purchase", "add_to_cart", "submit_application"])
def test_365_day_windows_are_valid_for_long_cycle_categories(category: str) -> None:
    settings(category=category, click_window_days=365, view_window_days=365).check()


def test_a_fixed_value_needs_a_value_and_takes_one() -> None:
    checked = settings(value_mode="fixed", value=(4_999, "EUR")).check()
    assert checked.value == (4_999, "EUR")


def test_an_invalid_definition_creates_nothing() -> None:
    with pytest.raises(Invalid):
        ConversionAction.define("tag-1", settings(counting="all"), actor="a", occurred_at=T0)


def test_each_changed_concern_records_its_own_event() -> None:
    action = new_action()
    pending(action)
    action.change(settings(name="Purchase", click_window_days=90, view_window_days=1,
                           value_mode="fixed", value=(100, "USD"), enabled=False),
                  actor="account:b", occurred_at=T1)
    events = pending(action)
    assert [get_topic(type(e)) for e in events] == [
        "convtrack:ConversionAction.Renamed", "convtrack:ConversionAction.ValueChanged",
        "convtrack:ConversionAction.WindowsChanged", "convtrack:ConversionAction.EnabledChanged"]
    assert events[1].changes == {"value_mode": "fixed",
                                 "value": {"amount_minor": 100, "currency": "USD"}}
    assert events[2].changes == {"click_window_days": 90, "view_window_days": 1}
    assert all((e.actor, e.occurred_at) == ("account:b", T1) for e in events)
    assert action.status == "disabled"


def test_every_concern_has_its_own_stable_topic() -> None:
    action = new_action()
    pending(action)
    action.change(settings(name="N", category="add_to_cart", rules=(), value_mode="none",
                           click_window_days=7, counting="one",
                           attribution="last_touch_last_campaign", campaign_ids=("c2",),
                           enabled=False), actor="a", occurred_at=T1)
    names = [get_topic(type(e)).rpartition(".")[2] for e in pending(action)]
    assert names == ["Renamed", "CategoryChanged", "RulesChanged", "ValueChanged",
                     "WindowsChanged", "CountingChanged", "AttributionChanged",
                     "CampaignsLinked", "EnabledChanged"]


def test_a_change_that_changes_nothing_records_nothing() -> None:
    action = new_action()
    pending(action)
    action.change(settings(name=" Buy "), actor="a", occurred_at=T1)
    assert pending(action) == []


def test_a_category_change_cannot_leave_a_365_day_window_behind() -> None:
    action = new_action(click_window_days=365)
    pending(action)
    with pytest.raises(Invalid) as caught:
        action.change(settings(click_window_days=365, category="download"), actor="a",
                      occurred_at=T1)
    assert caught.value.field == "click_window_days"
    assert action.settings.category == "purchase"
    assert pending(action) == []


def test_an_invalid_change_records_nothing_even_if_other_fields_were_valid() -> None:
    action = new_action()
    pending(action)
    with pytest.raises(Invalid):
        action.change(settings(name="Renamed", value=(-5, "USD")), actor="a", occurred_at=T1)
    assert action.settings.name == "Buy"
    assert pending(action) == []


def test_an_archived_action_refuses_edits() -> None:
    action = new_action()
    action.archive(actor="a", occurred_at=T1)
    pending(action)
    with pytest.raises(ActionArchived):
        action.change(settings(name="Other"), actor="a", occurred_at=T1)
    assert action.settings.name == "Buy"
    assert pending(action) == []


def test_an_archived_action_cannot_be_archived_again() -> None:
    action = new_action()
    action.archive(actor="a", occurred_at=T1)
    with pytest.raises(ActionArchived):
        action.archive(actor="a", occurred_at=T1)
    assert action.status == "archived"


def test_an_archived_action_refuses_even_a_change_that_changes_nothing() -> None:
    action = new_action()
    action.archive(actor="a", occurred_at=T1)
    with pytest.raises(ActionArchived):
        action.change(settings(), actor="a", occurred_at=T1)


def test_replaying_the_events_rebuilds_the_same_action() -> None:
    action = new_action()
    action.change(settings(name="Purchase", rules=(("contains", "/ok"),)), actor="a",
                  occurred_at=T1)
    action.change(settings(name="Purchase", rules=(("contains", "/ok"),),
                           campaign_ids=("c1", "c2"), counting="one"), actor="a", occurred_at=T1)
    action.archive(actor="a", occurred_at=T1)
    events = pending(action)
    rebuilt = replay(events)
    assert rebuilt == action
    assert rebuilt.settings == settings(name="Purchase", rules=(("contains", "/ok"),),
                                        campaign_ids=("c1", "c2"), counting="one")
    assert rebuilt.status == "archived"


def test_settings_survive_a_round_trip_through_plain_data() -> None:
    original = settings(value=(5, "JPY"), campaign_ids=("a", "b"))
    assert ActionSettings.from_dict(original.as_dict()) == original


def test_a_settings_change_overrides_only_the_settings_it_names() -> None:
    before = settings().as_dict()
    merged = merge_settings(before, {"click_window_days": 90, "view_window_days": 1})
    assert merged == before | {"click_window_days": 90, "view_window_days": 1}
    assert before["click_window_days"] == 30  # the settings it was given are left as they were
    # The aggregate applies its change events by the same merge that the read side uses.
    action = new_action()
    action.change(settings(name="Buy now", click_window_days=90), actor="account:a",
                  occurred_at=T1)
    state = new_action().settings.as_dict()
    for changed in pending(action)[1:]:
        state = merge_settings(state, changed.changes)
    assert state == action.settings.as_dict()
