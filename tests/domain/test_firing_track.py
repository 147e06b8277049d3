"""An explicit track call (docs/api.md: Collection): it converts for its action whatever the
action's URL rules say, but only for an enabled action and only on a registered domain."""

from __future__ import annotations

from domain.firing import (
    ACTION_ARCHIVED,
    ACTION_DISABLED,
    DOMAIN_NOT_REGISTERED,
    judge_track,
)
from tests.domain.test_firing import DOMAINS, action

BUTTON = "https://shop.example/cart"


def test_a_track_call_converts_whatever_the_rules_say() -> None:
    verdict = judge_track(DOMAINS, action(("exact", "https://shop.example/thanks")), BUTTON)
    assert (verdict.fires, verdict.failed) == (True, None)


def test_a_track_call_for_an_action_without_rules_converts() -> None:
    assert judge_track(DOMAINS, action(), "https://www.shop.example/").fires


def test_a_track_call_on_an_unregistered_domain_does_not_convert() -> None:
    verdict = judge_track(DOMAINS, action(), "https://badshop.example/cart")
    assert (verdict.fires, verdict.failed) == (False, DOMAIN_NOT_REGISTERED)


def test_a_track_call_from_a_page_without_a_web_url_does_not_convert() -> None:
    assert judge_track(DOMAINS, action(), "file:///tmp/cart.html").failed == DOMAIN_NOT_REGISTERED


def test_a_track_call_for_a_disabled_or_archived_action_does_not_convert() -> None:
    assert judge_track(DOMAINS, action(enabled=False), BUTTON).failed == ACTION_DISABLED
    assert judge_track(DOMAINS, action(archived=True), BUTTON).failed == ACTION_ARCHIVED
