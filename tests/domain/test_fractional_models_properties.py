"""Properties of the fractional models over random member timelines (docs/attribution.md:
Fractional models)."""

from __future__ import annotations

import math
from dataclasses import replace
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
from domain.fractional_models import value_share
from domain.values import COUNTINGS, FRACTIONAL_MODELS, TOUCH_KINDS, Money

T0 = datetime(2025, 3, 1, tzinfo=UTC)
CAMPAIGNS = ("C1", "C2", "C3", "C4")
HISTORY = CampaignStatusHistory({c: [(T0 - timedelta(days=400), "active")] for c in CAMPAIGNS})
SETTINGS = settings(max_examples=300, deadline=None)

# Hour steps over ~40 days: ties on time, and hours that are not whole days for time decay.
moments = st.integers(min_value=-24 * 40, max_value=24).map(lambda h: T0 + timedelta(hours=h))
money = st.none() | st.builds(Money, st.integers(0, 1_000_000), st.just("USD"))


@st.composite
def timelines(draw: st.DrawFn) -> tuple[list[Conversion], list[Touch]]:
    rules = ActionRules("A1", draw(st.sampled_from((7, 30))), draw(st.sampled_from((1, 7, 30))),
                        draw(st.sampled_from(COUNTINGS)), draw(st.sampled_from(FRACTIONAL_MODELS)),
                        frozenset(draw(st.sets(st.sampled_from(CAMPAIGNS), min_size=1))),
                        "dynamic", None)
    touch_facts = draw(st.lists(st.tuples(st.sampled_from(CAMPAIGNS),
                                          st.sampled_from(TOUCH_KINDS), moments), max_size=15))
    conversion_facts = draw(st.lists(st.tuples(moments, money), min_size=1, max_size=4))
    seqs = draw(st.permutations(range(len(touch_facts) + len(conversion_facts))))
    touches = [Touch(f"t{i}", c, k, when, seqs[i]) for i, (c, k, when) in enumerate(touch_facts)]
    conversions = [Conversion(f"x{j}", "A1", when, seqs[len(touches) + j], value, rules)
                   for j, (when, value) in enumerate(conversion_facts)]
    return conversions, touches


def attributed(timeline: tuple[list[Conversion], list[Touch]]) -> list[Attribution]:
    return [a for a in attribute_member(*timeline, HISTORY) if a.status == "attributed"]


@SETTINGS
@given(timelines())
def test_a_conversions_credits_add_up_to_one(timeline: tuple[list[Conversion], list[Touch]]
                                             ) -> None:
    for result in attributed(timeline):
        assert math.isclose(sum(c.credit for c in result.credits), 1.0, abs_tol=1e-9)
        assert all(0 < c.credit <= 1 for c in result.credits)


@SETTINGS
@given(timelines())
def test_every_credit_of_a_conversion_has_one_kind(timeline: tuple[list[Conversion], list[Touch]]
                                                   ) -> None:
    for result in attributed(timeline):
        assert len({c.kind for c in result.credits}) == 1


@SETTINGS
@given(timelines())
def test_a_click_still_beats_any_impression(timeline: tuple[list[Conversion], list[Touch]]
                                            ) -> None:
    for result in attributed(timeline):
        candidate_click = any(v.touch.kind == "click" and v.verdict in ("on_path", "credited")
                              for v in result.candidates)
        kinds = {c.kind for c in result.credits}
        assert kinds == ({"post_click"} if candidate_click else {"post_view"})
        assert all(v.verdict != "impression_off_path" or candidate_click
                   for v in result.candidates)


@SETTINGS
@given(timelines())
def test_value_shares_add_up_to_the_value_within_rounding(
        timeline: tuple[list[Conversion], list[Touch]]) -> None:
    for result in attributed(timeline):
        if result.value is None:
            continue
        shares = [value_share(result.value.amount_minor, c.credit) for c in result.credits]
        # Half a minor unit per credit at most, each rounded on its own.
        assert abs(sum(shares) - result.value.amount_minor) <= len(shares) / 2
        assert all(share >= 0 for share in shares)


@SETTINGS
@given(timelines())
def test_the_credited_campaigns_are_those_on_the_path(
        timeline: tuple[list[Conversion], list[Touch]]) -> None:
    # Counting "each" leaves the same candidates to every model: a fractional model credits the
    # campaigns that each-campaign credits with the path's kind (first_touch: one of them).
    conversions, touches = timeline
    each = [replace(c, rules=replace(c.rules, counting="each")) for c in conversions]
    last_touch = [replace(c, rules=replace(c.rules, attribution="last_touch_each_campaign"))
                  for c in each]
    for shared, whole in zip(attribute_member(each, touches, HISTORY),
                             attribute_member(last_touch, touches, HISTORY), strict=True):
        assert shared.status == whole.status
        kinds = {c.kind for c in shared.credits}
        on_path = {c.campaign_id for c in whole.credits if c.kind in kinds}
        credited = {c.campaign_id for c in shared.credits}
        if shared.rules.attribution == "first_touch":
            assert len(credited) <= 1 and credited <= on_path
        else:
            assert credited == on_path
