"""Properties of attribution over random member timelines (docs/attribution.md: Late data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.attribution import (
    ActionRules,
    Attribution,
    CampaignStatusHistory,
    Conversion,
    Touch,
    attribute_member,
)
from domain.values import (
    ATTRIBUTION_MODELS,
    CAMPAIGN_STATUSES,
    COUNTINGS,
    TOUCH_KINDS,
    VALUE_MODES,
    Money,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)
KNOWN_CAMPAIGNS = ("C1", "C2", "C3")
CAMPAIGNS = (*KNOWN_CAMPAIGNS, "C4")  # C4 has no history: an unknown campaign
ACTIONS = ("A1", "A2")
SETTINGS = settings(max_examples=200, deadline=None)

# Half-day steps over ~45 days: coarse enough for many ties on time and exact window edges.
moments = st.integers(min_value=-80, max_value=10).map(lambda half_days: T0 + timedelta(
    hours=12 * half_days))
money = st.none() | st.builds(Money, st.integers(0, 10_000), st.just("USD"))


@dataclass(frozen=True)
class Timeline:
    conversions: list[Conversion]
    touches: list[Touch]
    campaigns: CampaignStatusHistory


def action_rules(action_id: str) -> st.SearchStrategy[ActionRules]:
    return st.builds(
        ActionRules,
        action_id=st.just(action_id),
        click_window_days=st.sampled_from((1, 7, 30)),
        view_window_days=st.sampled_from((1, 7, 30)),
        counting=st.sampled_from(COUNTINGS),
        attribution=st.sampled_from(ATTRIBUTION_MODELS),
        campaign_ids=st.frozensets(st.sampled_from(CAMPAIGNS)),
        value_mode=st.sampled_from(VALUE_MODES),
        value=money,
    )


@st.composite
def timelines(draw: st.DrawFn) -> Timeline:
    history = {
        campaign: draw(st.lists(st.tuples(moments, st.sampled_from(CAMPAIGN_STATUSES)),
                                min_size=1, max_size=4))
        for campaign in KNOWN_CAMPAIGNS
    }
    # Each action has one or two settings versions: settings may change between conversions.
    versions = {action: draw(st.lists(action_rules(action), min_size=1, max_size=2))
                for action in ACTIONS}
    touch_facts = draw(st.lists(st.tuples(st.sampled_from(CAMPAIGNS),
                                          st.sampled_from(TOUCH_KINDS), moments), max_size=12))
    conversion_facts = draw(st.lists(st.tuples(st.sampled_from(ACTIONS), moments, money,
                                               st.integers(0, 1)), min_size=1, max_size=6))
    # Event store positions: unique, in an order unrelated to occurred_at.
    seqs = draw(st.permutations(range(len(touch_facts) + len(conversion_facts))))
    touches = [Touch(f"t{i}", campaign, kind, when, seqs[i])
               for i, (campaign, kind, when) in enumerate(touch_facts)]
    conversions = []
    for j, (action, when, value, version) in enumerate(conversion_facts):
        action_versions = versions[action]
        conversions.append(Conversion(f"x{j}", action, when, seqs[len(touches) + j], value,
                                      action_versions[version % len(action_versions)]))
    return Timeline(conversions, touches, CampaignStatusHistory(history))


def in_order(timeline: Timeline) -> list[Attribution]:
    return attribute_member(sorted(timeline.conversions, key=lambda c: (c.occurred_at, c.seq)),
                            sorted(timeline.touches, key=lambda t: (t.occurred_at, t.seq)),
                            timeline.campaigns)


@SETTINGS
@given(timelines(), st.data())
def test_any_arrival_order_gives_the_result_of_in_order_arrival(
        timeline: Timeline, data: st.DataObject) -> None:
    expected = in_order(timeline)
    for _ in range(2):
        conversions = data.draw(st.permutations(timeline.conversions))
        touches = data.draw(st.permutations(timeline.touches))
        assert attribute_member(conversions, touches, timeline.campaigns) == expected


@SETTINGS
@given(timelines(), st.data())
def test_recomputing_after_each_late_arrival_ends_with_the_in_order_result(
        timeline: Timeline, data: st.DataObject) -> None:
    # How the projection handles late data: recompute the member after every arrival.
    facts: list[Touch | Conversion] = [*timeline.touches, *timeline.conversions]
    arrived_conversions: list[Conversion] = []
    arrived_touches: list[Touch] = []
    result: list[Attribution] = []
    for fact in data.draw(st.permutations(facts)):
        if isinstance(fact, Touch):
            arrived_touches.append(fact)
        else:
            arrived_conversions.append(fact)
        result = attribute_member(arrived_conversions, arrived_touches, timeline.campaigns)
    assert result == in_order(timeline)


@SETTINGS
@given(timelines())
def test_every_credit_follows_the_eligibility_rules(timeline: Timeline) -> None:
    by_id = {t.event_id: t for t in timeline.touches}
    conversions = {c.event_id: c for c in timeline.conversions}
    results = in_order(timeline)
    assert [r.event_id for r in results] == [
        c.event_id for c in sorted(timeline.conversions, key=lambda c: (c.occurred_at, c.seq))]
    for result in results:
        conversion = conversions[result.event_id]
        rules = conversion.rules
        campaigns = [credit.campaign_id for credit in result.credits]
        assert len(campaigns) == len(set(campaigns))  # one whole credit per campaign at most
        if rules.attribution == "last_touch_last_campaign":
            assert len(campaigns) <= 1
        assert (result.status == "attributed") == bool(result.credits)
        if rules.counting == "each":
            assert result.status != "deduplicated"
        assert len(result.candidates) == len(timeline.touches)
        for credit in result.credits:
            touch = by_id[credit.touch_event_id]
            window = rules.click_window_days if touch.kind == "click" else rules.view_window_days
            assert touch.campaign_id in rules.campaign_ids
            assert timeline.campaigns.is_active_at(touch.campaign_id, touch.occurred_at)
            assert timedelta(0) <= conversion.occurred_at - touch.occurred_at \
                <= timedelta(days=window)
            assert credit.kind == ("post_click" if touch.kind == "click" else "post_view")


@SETTINGS
@given(timelines())
def test_attributing_without_words_decides_exactly_as_with_them(timeline: Timeline) -> None:
    # The projection attributes with explain=False; the explanation endpoint with words.
    explained = in_order(timeline)
    bare = attribute_member(timeline.conversions, timeline.touches, timeline.campaigns,
                            explain=False)
    assert [(a.event_id, a.status, a.credits, a.value, a.rules) for a in bare] == \
        [(a.event_id, a.status, a.credits, a.value, a.rules) for a in explained]
    assert all(a.candidates == () for a in bare)
