"""Which actions a page view fires, and which check each other one failed (docs/attribution.md:
What is never a conversion)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.conversion_action import ActionSettings, ConversionAction
from domain.firing import (
    ACTION_ARCHIVED,
    ACTION_DISABLED,
    DOMAIN_NOT_REGISTERED,
    NO_RULE_MATCHES,
    NO_URL_RULES,
    find_refusal,
    judge_action,
    judge_page,
)
from domain.values import UrlRule

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
THANKS = "https://www.shop.example/thanks?order=1"
DOMAINS = ["shop.example"]


def action(*rules: tuple[str, str], enabled: bool = True, archived: bool = False
           ) -> ConversionAction:
    settings = ActionSettings(
        name="Buy", category="purchase", rules=rules, value_mode="dynamic", value=None,
        click_window_days=30, view_window_days=7, counting="each",
        attribution="last_touch_each_campaign", campaign_ids=(), enabled=enabled)
    defined = ConversionAction.define("tag-1", settings, actor="account:a", occurred_at=T0)
    if archived:
        defined.archive(actor="account:a", occurred_at=T0)
    return defined


STARTS = ("starts_with", "https://www.shop.example/thanks")


def failed(verdict: Any) -> tuple[bool, str | None]:
    return verdict.fires, verdict.failed


def test_a_matching_enabled_action_on_a_registered_domain_fires() -> None:
    page = judge_page(DOMAINS, [action(STARTS)], THANKS)
    assert (page.host, page.domain_registered) == ("www.shop.example", True)
    [verdict] = page.verdicts
    assert failed(verdict) == (True, None)
    assert verdict.matched_rule == UrlRule(*STARTS)
    assert page.list_firing() == [verdict.action]


def test_a_url_on_an_unregistered_domain_fires_no_action_and_says_why() -> None:
    page = judge_page(DOMAINS, [action(("contains", "/thanks"))],
                      "https://elsewhere.example/thanks")
    assert not page.domain_registered
    [verdict] = page.verdicts
    assert failed(verdict) == (False, DOMAIN_NOT_REGISTERED)
    assert verdict.reason == "the URL's host is not a registered domain"
    assert verdict.matched_rule == UrlRule("contains", "/thanks")  # the rule did match
    assert page.list_firing() == []


def test_a_url_without_a_web_host_is_on_no_registered_domain() -> None:
    page = judge_page(DOMAINS, [action(("contains", "/thanks"))], "ftp://shop.example/thanks")
    assert (page.host, page.domain_registered) == (None, False)
    assert failed(page.verdicts[0]) == (False, DOMAIN_NOT_REGISTERED)


def test_an_action_whose_rules_miss_the_url_does_not_fire() -> None:
    verdict = judge_action(action(("exact", "https://www.shop.example/thanks")), THANKS, True)
    assert failed(verdict) == (False, NO_RULE_MATCHES)
    assert verdict.matched_rule is None


def test_an_action_without_url_rules_converts_only_through_the_server_api() -> None:
    verdict = judge_action(action(), THANKS, True)
    assert failed(verdict) == (False, NO_URL_RULES)
    assert "server API" in verdict.reason


def test_an_archived_or_disabled_action_never_fires_and_still_shows_its_matching_rule() -> None:
    archived = judge_action(action(STARTS, archived=True), THANKS, True)
    disabled = judge_action(action(STARTS, enabled=False), THANKS, True)
    assert failed(archived) == (False, ACTION_ARCHIVED)
    assert failed(disabled) == (False, ACTION_DISABLED)
    assert archived.matched_rule == disabled.matched_rule == UrlRule(*STARTS)


def test_the_action_state_is_told_before_the_url_and_the_domain() -> None:
    verdict = judge_action(action(("exact", "https://nowhere.example/"), enabled=False),
                           "https://elsewhere.example/", False)
    assert failed(verdict) == (False, ACTION_DISABLED)


def test_each_action_of_the_tag_gets_a_verdict_in_the_given_order() -> None:
    actions = [action(STARTS), action(), action(STARTS, enabled=False)]
    page = judge_page(DOMAINS, actions, THANKS)
    assert [v.action for v in page.verdicts] == actions
    assert [v.failed for v in page.verdicts] == [None, NO_URL_RULES, ACTION_DISABLED]


def test_a_sent_conversion_is_refused_by_the_check_that_stops_a_page_fire() -> None:
    assert find_refusal(action(STARTS)) is None
    assert find_refusal(action()) is None  # no URL rules: the server API may still send it
    assert find_refusal(action(STARTS, enabled=False)) == ACTION_DISABLED
    # An archived action is refused as archived, whatever its enabled setting.
    assert find_refusal(action(STARTS, enabled=False, archived=True)) == ACTION_ARCHIVED
