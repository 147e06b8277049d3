"""Fractional models (docs/attribution.md: Fractional models): one test per rule."""

from __future__ import annotations

import math

import pytest

from domain.attribution import Attribution, summarise
from domain.attribution_explain import describe_model
from domain.fractional_models import path_of, share_path, value_share
from domain.values import FRACTIONAL_MODELS
from tests.domain.test_attribution import (
    at,
    attribute,
    click,
    conversion,
    impression,
    only,
    rules,
    usd,
    verdict,
)

FIRST, LINEAR = rules(model="first_touch"), rules(model="linear")
DECAY, POSITION = rules(model="time_decay"), rules(model="position_based")


def credit_of(result: Attribution) -> dict[str, float]:
    return {c.campaign_id: c.credit for c in result.credits}


def shares_of(result: Attribution) -> dict[str, int | None]:
    value = result.value
    return {c.campaign_id: None if value is None else value_share(value.amount_minor, c.credit)
            for c in result.credits}


# --- The path ---------------------------------------------------------------------------------

def test_the_path_is_the_candidate_clicks_of_all_linked_campaigns_in_time_order() -> None:
    late, early, middle = click("C2", at(-1)), click("C1", at(-9)), click("C3", at(-4))
    assert path_of([late, early, middle]) == (early, middle, late)


def test_equal_times_on_the_path_keep_the_order_recorded() -> None:
    second, first = click("C2", at(-2), seq=20), click("C1", at(-2), seq=10)
    assert path_of([second, first]) == (first, second)
    result = only([conversion(at(0), rules(model="first_touch"))], [second, first])
    assert credit_of(result) == {"C1": 1.0}


def test_without_any_candidate_click_the_path_is_the_candidate_impressions() -> None:
    result = only([conversion(at(0), LINEAR)],
                  [impression("C1", at(-3)), impression("C2", at(-1))])
    assert {(c.campaign_id, c.kind, c.credit) for c in result.credits} == \
        {("C1", "post_view", 0.5), ("C2", "post_view", 0.5)}


@pytest.mark.parametrize("model", FRACTIONAL_MODELS)
def test_a_click_still_beats_any_impression_under_a_fractional_model(model: str) -> None:
    late_view = impression("C2", at(hours=-1))
    result = only([conversion(at(0), rules(model=model))], [click("C1", at(-20)), late_view])
    assert [(c.campaign_id, c.kind, c.credit) for c in result.credits] == \
        [("C1", "post_click", 1.0)]
    assert verdict(result, late_view) == "impression_off_path"


@pytest.mark.parametrize("model", FRACTIONAL_MODELS)
def test_every_credit_of_a_conversion_has_the_kind_of_its_path(model: str) -> None:
    touches = [impression("C1", at(-2)), click("C2", at(-3)), click("C3", at(-1)),
               impression("C3", at(hours=-2))]
    result = only([conversion(at(0), rules(model=model))], touches)
    assert {c.kind for c in result.credits} == {"post_click"}


def test_only_candidates_are_on_the_path() -> None:
    # The shared screening first: an unlinked campaign, a click out of its window, a touch
    # after the conversion never take a share.
    result = only([conversion(at(0), rules(model="linear", campaigns=("C1", "C2")))],
                  [click("C9", at(-1)), click("C2", at(-31)), click("C1", at(-2)),
                   click("C2", at(hours=1))])
    assert credit_of(result) == {"C1": 1.0}


# --- The models -------------------------------------------------------------------------------

def test_first_touch_gives_the_first_touch_of_the_path_the_whole_credit() -> None:
    result = only([conversion(at(0), FIRST)],
                  [click("C2", at(-5)), click("C1", at(-3)), click("C2", at(-1))])
    assert credit_of(result) == {"C2": 1.0}


def test_first_touch_credits_no_other_campaign_of_the_path() -> None:
    c1_click = click("C1", at(-1))
    result = only([conversion(at(0), FIRST)], [click("C2", at(-5)), c1_click])
    assert list(credit_of(result)) == ["C2"]
    assert verdict(result, c1_click) == "on_path"


def test_linear_gives_each_touch_of_the_path_an_equal_share() -> None:
    result = only([conversion(at(0), LINEAR)],
                  [click("C1", at(-6)), click("C2", at(-4)), click("C3", at(-2)),
                   click("C1", at(-1))])
    assert credit_of(result) == {"C2": 0.25, "C3": 0.25, "C1": 0.5}


def test_linear_gives_a_campaign_with_k_of_n_touches_k_over_n() -> None:
    result = only([conversion(at(0), LINEAR)],
                  [click("C1", at(-3)), click("C2", at(-2)), click("C1", at(-1))])
    assert credit_of(result) == {"C2": 1 / 3, "C1": 2 / 3}


def test_time_decay_halves_a_touchs_weight_for_every_seven_days_before_the_conversion() -> None:
    result = only([conversion(at(0), DECAY)], [click("C1", at(-7)), click("C2", at(0))])
    assert credit_of(result) == pytest.approx({"C1": 1 / 3, "C2": 2 / 3}, abs=1e-12)


def test_time_decay_weights_are_normalised_to_add_up_to_one() -> None:
    hours = [300.0, 50.0, 2.5]
    result = only([conversion(at(0), DECAY)],
                  [click(c, at(hours=-h)) for c, h in zip(("C1", "C2", "C3"), hours, strict=True)])
    weights = [0.5 ** (h / 168) for h in hours]
    expected = {c: w / sum(weights) for c, w in zip(("C1", "C2", "C3"), weights, strict=True)}
    assert credit_of(result) == pytest.approx(expected, abs=1e-12)


def test_position_based_gives_a_single_touch_everything() -> None:
    assert credit_of(only([conversion(at(0), POSITION)], [click("C1", at(-1))])) == {"C1": 1.0}


def test_position_based_splits_two_touches_half_and_half() -> None:
    result = only([conversion(at(0), POSITION)], [click("C1", at(-2)), click("C2", at(-1))])
    assert credit_of(result) == {"C1": 0.5, "C2": 0.5}


def test_position_based_gives_40_to_first_and_last_and_20_shared_by_the_middle() -> None:
    path = [click("C1", at(-4)), click("C2", at(-3)), click("C3", at(-2)), click("C1", at(-1))]
    shared = share_path("position_based", path, at(0))
    assert shared.shares == pytest.approx((0.4, 0.1, 0.1, 0.4), abs=1e-15)
    assert shared.credits == pytest.approx({"C1": 0.8, "C2": 0.1, "C3": 0.1}, abs=1e-15)


# --- Credits and value ------------------------------------------------------------------------

@pytest.mark.parametrize("model", FRACTIONAL_MODELS)
def test_a_conversions_credits_add_up_to_one(model: str) -> None:
    touches = [click(c, at(hours=-h)) for c, h in (("C1", 200), ("C2", 90), ("C3", 30),
                                                   ("C2", 7), ("C1", 1))]
    result = only([conversion(at(0), rules(model=model))], touches)
    assert math.isclose(sum(credit_of(result).values()), 1.0, abs_tol=1e-12)


def test_a_campaign_holding_the_whole_path_gets_exactly_one() -> None:
    for model in FRACTIONAL_MODELS:
        result = only([conversion(at(0), rules(model=model))],
                      [click("C1", at(-5)), click("C1", at(-2.5)), click("C1", at(-1))])
        assert credit_of(result) == {"C1": 1.0}


def test_a_credit_names_the_campaigns_latest_touch_on_the_path() -> None:
    first, latest = click("C1", at(-5)), click("C1", at(-1))
    result = only([conversion(at(0), FIRST)], [first, click("C2", at(-3)), latest,
                                               impression("C1", at(hours=-1))])
    [credit] = result.credits
    assert (credit.touch_event_id, credit.touch_occurred_at) == (latest.event_id, at(-1))
    assert verdict(result, latest) == "credited" and verdict(result, first) == "on_path"


def test_the_value_is_shared_as_the_credit_rounded_half_to_even_per_credit() -> None:
    purchase = rules("purchase", counting="each", model="linear")
    odd = only([conversion(at(0), purchase, usd(101))], [click("C1", at(-2)), click("C2", at(-1))])
    assert shares_of(odd) == {"C1": 50, "C2": 50}  # 50.5 each, half to even: 100 of 101
    thirds = only([conversion(at(0), purchase, usd(100))],
                  [click("C1", at(-3)), click("C2", at(-2)), click("C3", at(-1))])
    assert shares_of(thirds) == {"C1": 33, "C2": 33, "C3": 33}


def test_a_share_at_an_exact_half_rounds_to_even_despite_the_floats_error() -> None:
    # 1/6 is stored a hair below one sixth; 9 x 1/6 is still 1.5, which rounds to 2.
    assert value_share(9, 1 / 6) == 2
    assert value_share(3, 1 / 6) == 0  # 0.5 rounds to 0
    assert value_share(15, 0.5) == 8 and value_share(13, 0.5) == 6
    assert value_share(1000, 0.3333333333333333) == 333
    assert value_share(12345, 1.0) == 12345


def test_a_conversion_without_value_has_no_shares() -> None:
    result = only([conversion(at(0), LINEAR)], [click("C1", at(-2)), click("C2", at(-1))])
    assert shares_of(result) == {"C1": None, "C2": None}


# --- Counting "one" ---------------------------------------------------------------------------

def test_counting_one_a_campaign_with_any_credit_loses_its_touches_up_to_the_conversion() -> None:
    c2_click = click("C2", at(1))
    results = attribute([conversion(at(0), LINEAR), conversion(at(2), LINEAR)],
                        [click("C1", at(-2)), click("C2", at(-1)), c2_click])
    assert credit_of(results[0]) == {"C1": 0.5, "C2": 0.5}
    assert credit_of(results[1]) == {"C2": 1.0}
    assert results[1].credits[0].touch_event_id == c2_click.event_id


def test_counting_one_a_campaign_first_touch_gave_nothing_keeps_its_touches() -> None:
    c2_click = click("C2", at(-1))
    results = attribute([conversion(at(0), FIRST), conversion(at(1), FIRST)],
                        [click("C1", at(-2)), c2_click])
    assert credit_of(results[0]) == {"C1": 1.0}
    assert credit_of(results[1]) == {"C2": 1.0}


def test_counting_one_with_every_credited_touch_spent_is_deduplicated() -> None:
    results = attribute([conversion(at(0), DECAY), conversion(at(1), DECAY)],
                        [click("C1", at(-2)), impression("C2", at(-1))])
    assert credit_of(results[0]) == {"C1": 1.0}
    # C2's impression was off the path and C2 got nothing: it is the path now.
    assert [(c.campaign_id, c.kind, c.credit) for c in results[1].credits] == \
        [("C2", "post_view", 1.0)]
    third = attribute([conversion(at(0), DECAY), conversion(at(1), DECAY),
                       conversion(at(2), DECAY)], [click("C1", at(-2)), impression("C2", at(-1))])
    assert third[2].status == "deduplicated"


# --- Words ------------------------------------------------------------------------------------

def test_the_summary_says_the_model_and_each_campaigns_share() -> None:
    result = only([conversion(at(0), LINEAR)],
                  [click("C1", at(-3)), click("C2", at(-2)), click("C1", at(-1))])
    summary = summarise(result)
    assert "'linear'" in summary and "C2 post-click 0.3333" in summary and \
        "C1 post-click 0.6667" in summary


def test_each_touch_on_the_path_is_explained_with_its_place_and_share() -> None:
    first, second = click("C1", at(-2)), click("C2", at(-1))
    result = only([conversion(at(0), POSITION)], [first, second, click("C3", at(-1.5))])
    details = {line.touch.event_id: line.detail for line in result.candidates}
    assert details[first.event_id].startswith("Touch 1 of 3 on the path of clicks: "
                                              "position_based gives it 0.4000")
    assert "credit" in details[second.event_id]


@pytest.mark.parametrize("model", FRACTIONAL_MODELS)
def test_every_model_is_described_in_words(model: str) -> None:
    assert f"'{model}'" in describe_model(model)


@pytest.mark.parametrize(("model", "expected"), [
    ("first_touch", {"C1": (1.0, 10000)}),
    ("linear", {"C1": (0.6667, 6667), "C2": (0.3333, 3333)}),
    ("time_decay", {"C1": (0.6678, 6678), "C2": (0.3322, 3322)}),
    ("position_based", {"C1": (0.8, 8000), "C2": (0.2, 2000)}),
])
def test_the_example_of_docs_attribution_fractional_models(
        model: str, expected: dict[str, tuple[float, int]]) -> None:
    touches = [click("C1", at(-3)), click("C2", at(-2)), click("C1", at(-1)),
               impression("C3", at(hours=-2))]
    result = only([conversion(at(0), rules(model=model, counting="each"), usd(10000))], touches)
    assert {c: (round(credit, 4), share) for c, credit in credit_of(result).items()
            for share in [shares_of(result)[c]]} == expected
