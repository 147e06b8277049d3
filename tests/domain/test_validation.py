"""The validation rules of docs/attribution.md (Rejected input) and docs/api.md, one test per
rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.validation import (
    Invalid,
    check_amount,
    check_aware,
    check_conversion_time,
    check_currency,
    check_identifier,
    check_not_in_future,
    check_one_of,
    check_text,
    check_touch_time,
    check_window,
)
from domain.values import (
    CATEGORIES,
    EACH_COUNTING_CATEGORIES,
    LONG_WINDOW_CATEGORIES,
    default_counting,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rejection(check: object, *args: object, **kwargs: object) -> Invalid:
    """Run a check that must fail and return its Invalid."""
    with pytest.raises(Invalid) as caught:
        check(*args, **kwargs)  # type: ignore[operator]
    return caught.value


# --- time: future skew and age limits -------------------------------------------------------

def test_a_time_up_to_ten_minutes_ahead_is_allowed_for_clock_skew() -> None:
    check_not_in_future(NOW + timedelta(minutes=10), NOW)


def test_a_time_more_than_ten_minutes_ahead_is_rejected() -> None:
    error = rejection(check_not_in_future, NOW + timedelta(minutes=10, seconds=1), NOW)
    assert (error.field, error.code) == ("occurred_at", "occurred_in_future")


def test_the_future_rule_compares_instants_not_wall_clock_readings() -> None:
    # 20:05 at +08:00 is 12:05 UTC: five minutes ahead, allowed.
    plus_eight = timezone(timedelta(hours=8))
    check_not_in_future(datetime(2026, 3, 1, 20, 5, tzinfo=plus_eight), NOW)


def test_a_time_without_an_offset_is_rejected() -> None:
    error = rejection(check_aware, datetime(2026, 3, 1, 12, 0), "occurred_at")
    assert (error.field, error.code) == ("occurred_at", "missing_offset")


def test_a_naive_conversion_time_is_rejected_before_any_comparison() -> None:
    error = rejection(check_conversion_time, datetime(2026, 3, 1, 12, 0), NOW)
    assert error.code == "missing_offset"


def test_a_conversion_exactly_90_days_old_is_accepted() -> None:
    check_conversion_time(NOW - timedelta(days=90), NOW)


def test_a_conversion_more_than_90_days_old_is_rejected() -> None:
    error = rejection(check_conversion_time, NOW - timedelta(days=90, seconds=1), NOW)
    assert (error.field, error.code) == ("occurred_at", "too_old")


def test_a_conversion_in_the_future_is_rejected() -> None:
    error = rejection(check_conversion_time, NOW + timedelta(minutes=11), NOW)
    assert error.code == "occurred_in_future"


def test_a_touch_may_be_back_filled_up_to_400_days() -> None:
    check_touch_time(NOW - timedelta(days=400), NOW)
    check_touch_time(NOW - timedelta(days=91), NOW)  # older than any conversion may be


def test_a_touch_more_than_400_days_old_is_rejected() -> None:
    error = rejection(check_touch_time, NOW - timedelta(days=400, seconds=1), NOW)
    assert (error.field, error.code) == ("occurred_at", "too_old")


def test_a_touch_in_the_future_is_rejected() -> None:
    error = rejection(check_touch_time, NOW + timedelta(hours=1), NOW)
    assert error.code == "occurred_in_future"


# --- money ------------------------------------------------------------------------------------

def test_a_zero_amount_is_allowed() -> None:
    check_amount(0)


def test_a_negative_amount_is_rejected() -> None:
    error = rejection(check_amount, -1, "value.amount_minor")
    assert (error.field, error.code) == ("value.amount_minor", "negative_amount")


def test_an_absurdly_large_amount_is_rejected() -> None:
    error = rejection(check_amount, 10**15 + 1)
    assert error.code == "amount_too_large"


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY", "CHF"])
def test_an_iso_4217_currency_is_accepted(currency: str) -> None:
    check_currency(currency)


@pytest.mark.parametrize("currency", ["usd", "Usd", "US", "USDD", "", "U$D", "ÜSD"])
def test_a_currency_that_is_not_three_upper_case_letters_is_rejected(currency: str) -> None:
    error = rejection(check_currency, currency, "value.currency")
    assert (error.field, error.code) == ("value.currency", "invalid_currency")


@pytest.mark.parametrize("currency", ["ABC", "XYZ", "EUX"])
def test_three_upper_case_letters_that_name_no_iso_4217_currency_are_rejected(
    currency: str,
) -> None:
    error = rejection(check_currency, currency)
    assert (error.field, error.code) == ("currency", "unknown_currency")


# --- windows per category ---------------------------------------------------------------------

@pytest.mark.parametrize("days", [1, 7, 30, 90])
@pytest.mark.parametrize("category", CATEGORIES)
def test_windows_up_to_90_days_are_allowed_for_every_category(days: int, category: str) -> None:
    check_window(days, category, "click_window_days")


@pytest.mark.parametrize("category", sorted(LONG_WINDOW_CATEGORIES))
def test_a_365_day_window_is_allowed_for_long_cycle_categories(category: str) -> None:
    check_window(365, category, "view_window_days")


@pytest.mark.parametrize("category", sorted(set(CATEGORIES) - LONG_WINDOW_CATEGORIES))
def test_a_365_day_window_is_refused_for_other_categories(category: str) -> None:
    error = rejection(check_window, 365, category, "click_window_days")
    assert (error.field, error.code) == ("click_window_days", "window_not_allowed_for_category")


def test_the_long_cycle_categories_are_exactly_those_of_the_api() -> None:
    assert LONG_WINDOW_CATEGORIES == {
        "lead", "qualified_lead", "purchase", "add_to_cart", "submit_application"}


@pytest.mark.parametrize("days", [0, 2, 14, 60, 180, 364, 366, -7])
def test_a_window_that_is_not_one_of_the_allowed_lengths_is_rejected(days: int) -> None:
    error = rejection(check_window, days, "purchase", "view_window_days")
    assert (error.field, error.code) == ("view_window_days", "invalid_window")


# --- counting default per category -------------------------------------------------------------

@pytest.mark.parametrize("category", ["purchase", "add_to_cart"])
def test_purchase_and_add_to_cart_count_each_conversion_by_default(category: str) -> None:
    assert default_counting(category) == "each"


@pytest.mark.parametrize("category", sorted(set(CATEGORIES) - EACH_COUNTING_CATEGORIES))
def test_every_other_category_counts_one_conversion_per_interaction_by_default(
    category: str,
) -> None:
    assert default_counting(category) == "one"


# --- vocabularies, names and identifiers -----------------------------------------------------

def test_a_word_outside_its_vocabulary_is_rejected_naming_the_field() -> None:
    error = rejection(check_one_of, "owner", ("viewer", "editor", "admin"), "role")
    assert (error.field, error.code) == ("role", "not_allowed")


def test_a_name_is_stripped() -> None:
    assert check_text("  Shop  ", "name") == "Shop"


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_an_empty_name_is_rejected(name: str) -> None:
    assert rejection(check_text, name, "name").code == "empty"


def test_a_name_over_200_characters_is_rejected() -> None:
    assert rejection(check_text, "x" * 201, "name").code == "too_long"


@pytest.mark.parametrize(("value", "code"), [
    ("", "empty"), ("   ", "empty"), ("x" * 201, "too_long"), ("a\nb", "not_printable"),
    ("a\x00b", "not_printable"),
])
def test_a_client_chosen_id_must_be_non_empty_printable_and_bounded(value: str, code: str) -> None:
    error = rejection(check_identifier, value, "event_id")
    assert (error.field, error.code) == ("event_id", code)


def test_a_problem_can_be_placed_under_a_parent_field() -> None:
    inner = Invalid("currency", "unknown_currency", "no such currency")
    assert inner.within("value").field == "value.currency"
    assert Invalid(None, "x", "y").within("rules[0]").field == "rules[0]"
