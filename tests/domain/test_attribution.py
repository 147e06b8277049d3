"""Attribution rules (docs/attribution.md): one test per rule, the worked examples and the
boundaries."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from domain.attribution import (
    ActionRules,
    Attribution,
    CampaignStatusHistory,
    Conversion,
    Touch,
    attribute_member,
    resolve_value,
    summarise,
)
from domain.values import Money

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CREATED = T0 - timedelta(days=100)
_recorded = itertools.count(1)  # recording order: facts are built in the order a test lists them
_ids = itertools.count(1)


def at(days: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, seconds=seconds)


def touch(kind: str, campaign_id: str, when: datetime, seq: int | None = None) -> Touch:
    return Touch(f"{kind[0]}{next(_ids)}", campaign_id, kind, when,
                 next(_recorded) if seq is None else seq)


def click(campaign_id: str, when: datetime, seq: int | None = None) -> Touch:
    return touch("click", campaign_id, when, seq)


def impression(campaign_id: str, when: datetime, seq: int | None = None) -> Touch:
    return touch("impression", campaign_id, when, seq)


def rules(action_id: str = "download", *, click_days: int = 30, view_days: int = 7,
          counting: str = "one", model: str = "last_touch_each_campaign",
          campaigns: Iterable[str] = ("C1", "C2", "C3"), value_mode: str = "dynamic",
          value: Money | None = None) -> ActionRules:
    return ActionRules(action_id, click_days, view_days, counting, model, frozenset(campaigns),
                       value_mode, value)


DOWNLOAD = rules()
PURCHASE = rules("purchase", counting="each")


def conversion(when: datetime, action: ActionRules = DOWNLOAD, value: Money | None = None,
               seq: int | None = None) -> Conversion:
    return Conversion(f"x{next(_ids)}", action.action_id, when,
                      next(_recorded) if seq is None else seq, value, action)


ALL_ACTIVE = CampaignStatusHistory({c: [(CREATED, "active")] for c in ("C1", "C2", "C3", "C9")})


def attribute(conversions: Iterable[Conversion], touches: Iterable[Touch],
              campaigns: CampaignStatusHistory = ALL_ACTIVE) -> list[Attribution]:
    return attribute_member(conversions, touches, campaigns)


def only(conversions: Iterable[Conversion], touches: Iterable[Touch],
         campaigns: CampaignStatusHistory = ALL_ACTIVE) -> Attribution:
    [result] = attribute(conversions, touches, campaigns)
    return result


def credited(result: Attribution) -> list[tuple[str, str, str]]:
    return [(c.campaign_id, c.kind, c.touch_event_id) for c in result.credits]


def verdict(result: Attribution, of: Touch) -> str:
    [line] = [line for line in result.candidates if line.touch == of]
    return line.verdict


def usd(amount_minor: int) -> Money:
    return Money(amount_minor, "USD")


# --- Worked examples -----------------------------------------------------------------------

def test_worked_example_1_the_classic_timeline() -> None:
    old, mid = impression("C1", at(-40)), impression("C1", at(-20))
    the_click, late = click("C1", at(-10)), impression("C1", at(-3))
    first, second = conversion(at(0)), conversion(at(hours=1))
    results = attribute([first, second], [old, mid, the_click, late])
    assert [r.status for r in results] == ["attributed", "deduplicated"]
    assert credited(results[0]) == [("C1", "post_click", the_click.event_id)]
    assert verdict(results[0], old) == "outside_view_window"
    assert verdict(results[0], late) == "impression_loses_to_click"
    assert results[1].credits == ()


@pytest.mark.parametrize(("model", "expected"), [
    ("last_touch_each_campaign", [("C1", "post_click"), ("C2", "post_view")]),
    ("last_touch_last_campaign", [("C1", "post_click")]),
])
def test_worked_example_2_each_campaign_against_last_campaign(
        model: str, expected: list[tuple[str, str]]) -> None:
    touches = [click("C1", at(-5)), impression("C2", at(-1))]
    result = only([conversion(at(0), rules(model=model))], touches)
    assert [(c.campaign_id, c.kind) for c in result.credits] == expected


def test_worked_example_3_a_purchase_counts_every_conversion_and_sums_values() -> None:
    the_click = click("C1", at(-2))
    results = attribute([conversion(at(0), PURCHASE, usd(10000)),
                         conversion(at(1), PURCHASE, usd(5000))], [the_click])
    assert [credited(r) for r in results] == [[("C1", "post_click", the_click.event_id)]] * 2
    assert sum(r.value.amount_minor for r in results if r.value) == 15000


# --- Terms: eligible touches ----------------------------------------------------------------

def test_only_touches_of_linked_campaigns_are_candidates() -> None:
    other = click("C9", at(-1))
    result = only([conversion(at(0))], [other])
    assert result.status == "unattributed"
    assert verdict(result, other) == "not_linked"


def test_a_touch_of_an_unknown_campaign_never_counts() -> None:
    ghost = click("C1", at(-1))
    result = only([conversion(at(0))], [ghost], CampaignStatusHistory({}))
    assert (result.status, verdict(result, ghost)) == ("unattributed", "unknown_campaign")


PAUSED_THEN_RESUMED = CampaignStatusHistory(
    {"C1": [(CREATED, "active"), (at(-10), "paused"), (at(-5), "active")]})


def test_a_touch_while_the_campaign_was_paused_never_counts() -> None:
    during_pause = click("C1", at(-7))
    result = only([conversion(at(0))], [during_pause], PAUSED_THEN_RESUMED)
    assert (result.status, verdict(result, during_pause)) == ("unattributed", "campaign_not_active")


def test_a_touch_after_the_campaign_resumed_counts() -> None:
    after_resume = click("C1", at(-5))  # the resume is at or before the touch: it applies
    assert only([conversion(at(0))], [after_resume], PAUSED_THEN_RESUMED).status == "attributed"


def test_pausing_a_campaign_later_keeps_the_credit_it_earned() -> None:
    before_pause = click("C1", at(-12))
    result = only([conversion(at(0))], [before_pause], PAUSED_THEN_RESUMED)
    assert credited(result) == [("C1", "post_click", before_pause.event_id)]


def test_a_paused_campaign_at_conversion_time_keeps_credit_for_an_earlier_touch() -> None:
    paused_now = CampaignStatusHistory({"C1": [(CREATED, "active"), (at(-1), "paused")]})
    assert only([conversion(at(0))], [click("C1", at(-2))], paused_now).status == "attributed"


def test_a_back_filled_touch_before_the_creation_of_a_campaign_created_active_counts() -> None:
    created_yesterday = CampaignStatusHistory({"C1": [(at(-1), "active")]})
    assert only([conversion(at(0))], [click("C1", at(-20))], created_yesterday).status \
        == "attributed"


def test_a_back_filled_touch_before_the_creation_of_a_campaign_created_paused_never_counts() -> None:
    created_paused = CampaignStatusHistory({"C1": [(at(-1), "paused"), (at(hours=-1), "active")]})
    assert only([conversion(at(0))], [click("C1", at(-20))], created_paused).status \
        == "unattributed"


def test_an_archived_campaign_earns_no_credit_for_touches_after_archiving() -> None:
    archived = CampaignStatusHistory({"C1": [(CREATED, "active"), (at(-3), "archived")]})
    assert only([conversion(at(0))], [click("C1", at(-2))], archived).status == "unattributed"


def test_a_click_exactly_at_the_end_of_the_click_window_counts() -> None:
    assert only([conversion(at(0))], [click("C1", at(-30))]).status == "attributed"


def test_a_click_one_second_beyond_the_click_window_does_not_count() -> None:
    late = click("C1", at(-30, seconds=-1))
    result = only([conversion(at(0))], [late])
    assert (result.status, verdict(result, late)) == ("unattributed", "outside_click_window")


def test_an_impression_exactly_at_the_end_of_the_view_window_counts() -> None:
    assert only([conversion(at(0))], [impression("C1", at(-7))]).status == "attributed"


def test_an_impression_one_second_beyond_the_view_window_does_not_count() -> None:
    late = impression("C1", at(-7, seconds=-1))
    result = only([conversion(at(0))], [late])
    assert (result.status, verdict(result, late)) == ("unattributed", "outside_view_window")


def test_the_windows_are_whole_24_hour_days_from_the_actions_settings() -> None:
    one_day = rules(click_days=1, view_days=1)
    assert only([conversion(at(0), one_day)], [click("C1", at(hours=-24))]).status == "attributed"
    assert only([conversion(at(0), one_day)], [click("C1", at(hours=-25))]).status \
        == "unattributed"


def test_a_touch_at_the_same_instant_as_the_conversion_counts() -> None:
    same_instant = conversion(at(0))
    # Even recorded after the conversion: only the times are compared (0 <= T - t).
    assert only([same_instant], [click("C1", at(0))]).status == "attributed"


def test_a_touch_one_second_after_the_conversion_never_counts() -> None:
    after = click("C1", at(seconds=1))
    result = only([conversion(at(0))], [after])
    assert (result.status, verdict(result, after)) == ("unattributed", "after_conversion")


def test_a_click_outside_the_click_window_does_not_block_an_impression_in_the_view_window() -> None:
    narrow_clicks = rules(click_days=1, view_days=7)
    old_click, recent_view = click("C1", at(-3)), impression("C1", at(-5))
    result = only([conversion(at(0), narrow_clicks)], [old_click, recent_view])
    assert credited(result) == [("C1", "post_view", recent_view.event_id)]


# --- Which touch, which kind ------------------------------------------------------------------

def test_the_last_eligible_click_of_a_campaign_is_credited() -> None:
    older, newer = click("C1", at(-9)), click("C1", at(-2))
    result = only([conversion(at(0))], [newer, older])
    assert credited(result) == [("C1", "post_click", newer.event_id)]
    assert verdict(result, older) == "older_than_credited_touch"


def test_a_click_beats_a_later_impression() -> None:
    the_click, later_view = click("C1", at(-5)), impression("C1", at(-1))
    result = only([conversion(at(0))], [the_click, later_view])
    assert credited(result) == [("C1", "post_click", the_click.event_id)]
    assert verdict(result, later_view) == "impression_loses_to_click"


def test_without_an_eligible_click_the_last_eligible_impression_gives_post_view() -> None:
    older, newer = impression("C1", at(-4)), impression("C1", at(-2))
    assert credited(only([conversion(at(0))], [older, newer])) \
        == [("C1", "post_view", newer.event_id)]


def test_of_two_touches_of_a_campaign_at_the_same_time_the_one_recorded_first_wins() -> None:
    second = click("C1", at(-1), seq=20)
    first = click("C1", at(-1), seq=10)
    result = only([conversion(at(0))], [second, first])
    assert credited(result) == [("C1", "post_click", first.event_id)]
    assert verdict(result, second) == "recorded_later"


def test_each_campaign_gives_every_linked_campaign_with_an_eligible_touch_a_whole_credit() -> None:
    touches = [click("C1", at(-5)), impression("C2", at(-1)), click("C3", at(-2))]
    result = only([conversion(at(0))], touches)
    assert sorted((c.campaign_id, c.kind) for c in result.credits) \
        == [("C1", "post_click"), ("C2", "post_view"), ("C3", "post_click")]


LAST = rules(model="last_touch_last_campaign")


def test_last_campaign_credits_the_campaign_with_the_latest_eligible_click() -> None:
    touches = [click("C1", at(-5)), click("C2", at(-3)), impression("C3", at(-1))]
    result = only([conversion(at(0), LAST)], touches)
    assert [(c.campaign_id, c.kind) for c in result.credits] == [("C2", "post_click")]
    assert verdict(result, touches[0]) == verdict(result, touches[2]) == "other_campaign_won"


def test_last_campaign_without_any_click_credits_the_latest_eligible_impression() -> None:
    touches = [impression("C1", at(-3)), impression("C2", at(-2))]
    assert [c.campaign_id for c in only([conversion(at(0), LAST)], touches).credits] == ["C2"]


def test_last_campaign_time_ties_go_to_the_touch_recorded_first() -> None:
    touches = [click("C2", at(-1), seq=31), click("C1", at(-1), seq=30)]
    assert [c.campaign_id for c in only([conversion(at(0), LAST)], touches).credits] == ["C1"]


def test_a_conversion_with_no_eligible_touch_is_unattributed_and_kept() -> None:
    lonely = conversion(at(0), PURCHASE, usd(900))
    result = only([lonely], [])
    assert (result.event_id, result.status, result.credits, result.value) \
        == (lonely.event_id, "unattributed", (), usd(900))


def test_conversions_are_processed_in_occurred_at_order_whatever_the_input_order() -> None:
    the_click = click("C1", at(-5))
    later, earlier = conversion(at(2)), conversion(at(1))
    results = attribute([later, earlier], [the_click])
    assert [(r.event_id, r.status) for r in results] \
        == [(earlier.event_id, "attributed"), (later.event_id, "deduplicated")]


def test_conversions_at_the_same_time_are_processed_in_the_order_recorded() -> None:
    the_click = click("C1", at(-5))
    recorded_second = conversion(at(0), seq=51)
    recorded_first = conversion(at(0), seq=50)
    results = attribute([recorded_second, recorded_first], [the_click])
    assert [(r.event_id, r.status) for r in results] \
        == [(recorded_first.event_id, "attributed"), (recorded_second.event_id, "deduplicated")]


# --- Counting --------------------------------------------------------------------------------

def test_counting_each_counts_every_conversion() -> None:
    results = attribute([conversion(at(t), PURCHASE) for t in (0, 1, 2)], [click("C1", at(-1))])
    assert [r.status for r in results] == ["attributed"] * 3


def test_counting_one_counts_one_conversion_per_ad_interaction() -> None:
    results = attribute([conversion(at(t)) for t in (0, 1, 2)], [click("C1", at(-1))])
    assert [r.status for r in results] == ["attributed", "deduplicated", "deduplicated"]


def test_counting_one_a_new_touch_re_arms_counting() -> None:
    results = attribute([conversion(at(0)), conversion(at(2))],
                        [click("C1", at(-1)), click("C1", at(1))])
    assert [r.status for r in results] == ["attributed", "attributed"]


def test_counting_one_only_the_new_touches_decide_the_kind() -> None:
    new_view = impression("C1", at(1))
    results = attribute([conversion(at(0)), conversion(at(2))], [click("C1", at(-1)), new_view])
    assert credited(results[1]) == [("C1", "post_view", new_view.event_id)]


def test_counting_one_spends_touches_at_the_instant_of_the_counted_conversion() -> None:
    results = attribute([conversion(at(0), seq=60), conversion(at(1), seq=62)],
                        [click("C1", at(0), seq=61)])
    assert [r.status for r in results] == ["attributed", "deduplicated"]


def test_counting_one_is_per_action() -> None:
    signup = rules("sign_up")
    results = attribute([conversion(at(0)), conversion(at(1), signup)], [click("C1", at(-1))])
    assert [r.status for r in results] == ["attributed", "attributed"]


def test_counting_one_is_per_campaign() -> None:
    c1_click, c2_view = click("C1", at(-3)), impression("C2", at(-1))
    results = attribute([conversion(at(0), LAST), conversion(at(1), LAST)], [c1_click, c2_view])
    # C2 was never credited, so its impression is still a candidate for the second conversion.
    assert [credited(r) for r in results] \
        == [[("C1", "post_click", c1_click.event_id)], [("C2", "post_view", c2_view.event_id)]]


def test_the_counting_filter_comes_first_then_the_model_chooses() -> None:
    # docs/attribution.md, Counting: "Example of the order".
    c2_view = impression("C2", at(1))
    results = attribute([conversion(at(0), LAST), conversion(at(2), LAST)],
                        [click("C1", at(-5)), c2_view])
    assert [(c.campaign_id, c.kind) for c in results[0].credits] == [("C1", "post_click")]
    assert credited(results[1]) == [("C2", "post_view", c2_view.event_id)]


def test_the_example_of_the_order_without_a_c2_impression_is_deduplicated() -> None:
    results = attribute([conversion(at(0), LAST), conversion(at(2), LAST)], [click("C1", at(-5))])
    assert [r.status for r in results] == ["attributed", "deduplicated"]


def test_a_conversion_counted_under_each_spends_touches_for_a_later_one_counted_once() -> None:
    # Settings can change between conversions: "once a conversion has been counted with credit
    # to that campaign" does not ask under which counting it was counted.
    each, one = rules(counting="each"), rules(counting="one")
    results = attribute([conversion(at(0), each), conversion(at(1), one)], [click("C1", at(-1))])
    assert [r.status for r in results] == ["attributed", "deduplicated"]


def test_attributed_lists_only_the_counted_credits() -> None:
    late_view = impression("C3", at(1))
    results = attribute([conversion(at(0)), conversion(at(2))],
                        [click("C1", at(-2)), impression("C2", at(-1)), late_view])
    assert len(results[0].credits) == 2
    assert (results[1].status, credited(results[1])) \
        == ("attributed", [("C3", "post_view", late_view.event_id)])


def test_deduplicated_means_the_filter_removed_every_eligible_touch() -> None:
    spent = click("C1", at(-1))
    results = attribute([conversion(at(0)), conversion(at(1))], [spent])
    assert verdict(results[1], spent) == "already_counted"
    assert results[1].status == "deduplicated"


def test_a_spent_touch_now_outside_its_window_makes_the_conversion_unattributed() -> None:
    results = attribute([conversion(at(0)), conversion(at(40))], [click("C1", at(-1))])
    assert [r.status for r in results] == ["attributed", "unattributed"]


# --- Value -----------------------------------------------------------------------------------

ACTION_VALUE = usd(2500)


@pytest.mark.parametrize(("mode", "own", "expected"), [
    ("dynamic", usd(100), usd(100)),
    ("dynamic", None, ACTION_VALUE),
    ("fixed", usd(100), ACTION_VALUE),
    ("none", usd(100), None),
])
def test_the_value_mode_decides_the_conversions_value(
        mode: str, own: Money | None, expected: Money | None) -> None:
    assert resolve_value(rules(value_mode=mode, value=ACTION_VALUE), own) == expected


def test_a_dynamic_value_without_own_or_action_value_is_none() -> None:
    assert resolve_value(rules(value_mode="dynamic", value=None), None) is None


def test_deduplicated_and_unattributed_conversions_keep_their_value() -> None:
    results = attribute([conversion(at(0)), conversion(at(1), value=usd(7)),
                         conversion(at(2), rules("other", campaigns=()), usd(8))], [click("C1", at(-1))])
    assert [(r.status, r.value) for r in results[1:]] \
        == [("deduplicated", usd(7)), ("unattributed", usd(8))]


# --- Late data and settings ------------------------------------------------------------------

def test_a_late_touch_changes_the_attribution_of_an_earlier_conversion() -> None:
    the_conversion, late_click = conversion(at(0)), click("C1", at(-1))
    assert only([the_conversion], []).status == "unattributed"
    assert only([the_conversion], [late_click]).status == "attributed"


def test_a_late_earlier_conversion_takes_the_credit_from_a_later_one() -> None:
    the_click, later = click("C1", at(-1)), conversion(at(1))
    assert attribute([later], [the_click])[0].status == "attributed"
    late_earlier = conversion(at(0))
    assert [(r.event_id, r.status) for r in attribute([later, late_earlier], [the_click])] \
        == [(late_earlier.event_id, "attributed"), (later.event_id, "deduplicated")]


def test_each_conversion_is_attributed_with_the_settings_it_carries() -> None:
    the_click = click("C1", at(-2))
    results = attribute([conversion(at(0), rules(click_days=1)), conversion(at(1))], [the_click])
    assert [r.status for r in results] == ["unattributed", "attributed"]
    assert results[0].rules.click_window_days == 1


# --- Campaign status history -----------------------------------------------------------------

def test_a_campaign_status_is_that_of_its_last_change_at_or_before_the_time() -> None:
    history = PAUSED_THEN_RESUMED
    assert [history.status_at("C1", at(d)) for d in (-200, -10, -7, -5, 0)] \
        == ["active", "paused", "paused", "active", "active"]
    assert history.status_at("C7", at(0)) is None


def test_status_changes_at_the_same_instant_apply_in_the_order_recorded() -> None:
    history = CampaignStatusHistory({"C1": [(CREATED, "active"), (at(0), "paused"),
                                            (at(0), "active")]})
    assert history.is_active_at("C1", at(0))


def test_a_status_history_grows_by_recorded_changes() -> None:
    history = CampaignStatusHistory().with_change("C1", CREATED, "active")
    history = history.with_change("C1", at(-1), "paused")
    assert history == CampaignStatusHistory({"C1": [(CREATED, "active"), (at(-1), "paused")]})
    assert not history.is_active_at("C1", at(0))


# --- Guards and explanations -----------------------------------------------------------------

def test_a_naive_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Touch("t", "C1", "click", datetime(2025, 1, 1), 1)


def test_a_conversion_given_another_actions_rules_is_rejected() -> None:
    with pytest.raises(ValueError, match="rules of"):
        Conversion("x", "purchase", at(0), 1, None, DOWNLOAD)


def test_every_touch_of_the_member_gets_one_verdict_in_time_order() -> None:
    touches = [click("C1", at(-3)), impression("C9", at(-5)), click("C2", at(1))]
    result = only([conversion(at(0))], touches)
    assert [(line.touch.event_id, line.verdict) for line in result.candidates] == [
        (touches[1].event_id, "not_linked"), (touches[0].event_id, "credited"),
        (touches[2].event_id, "after_conversion")]
    assert all(line.detail.endswith(".") for line in result.candidates)


def test_a_summary_names_the_credits_or_the_reason_there_are_none() -> None:
    the_click = click("C1", at(-1))
    first, second = attribute([conversion(at(0)), conversion(at(1))], [the_click])
    assert summarise(first).startswith(f"Attributed to C1 post-click (touch {the_click.event_id}")
    assert summarise(second).startswith("Deduplicated")
    assert summarise(only([conversion(at(0))], [])).startswith("Unattributed")
