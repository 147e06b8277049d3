"""Reports: credits added up per group, with spend, cost per conversion and ROAS (ADR 0011)."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from projections.attribution.records import CreditRow
from projections.reporting import GROUP_KEYS, ReportRequest, assemble, spend_totals, total_credits

DAY1, DAY2 = date(2026, 3, 1), date(2026, 3, 2)
ALL = frozenset({"c1", "c2"})


def credit(event_id: str, campaign: str, kind: str = "post_click", value: int | None = 1000,
           currency: str | None = "USD", day: date = DAY1, action: str = "a1",
           category: str = "purchase") -> CreditRow:
    return CreditRow("t1", event_id, campaign, action, category, day, kind, value,
                     currency if value is not None else None)


CREDITS = [
    credit("x1", "c1"), credit("x1", "c2", "post_view"),  # one conversion, two campaigns
    credit("x2", "c1", value=500, day=DAY2),
    credit("x3", "c2", "post_view", value=None, action="a2", category="lead"),
]
SPEND = {("c1", DAY1.isoformat()): (3000, "USD"), ("c1", DAY2.isoformat()): (1000, "USD"),
         ("c2", DAY1.isoformat()): (0, "USD")}


def report(group_by: tuple[str, ...], credits: list[CreditRow] = CREDITS,
           spend: dict[tuple[str, str], tuple[int, str]] = SPEND,
           day_from: date | None = None, day_to: date | None = None) -> list[dict[str, object]]:
    request = ReportRequest(frozenset({"t1"}), ALL, day_from, day_to, group_by)
    rows = [c for c in credits if (day_from is None or c.day >= day_from)
            and (day_to is None or c.day <= day_to)]
    return [dict(r.keys) | {"conversions": r.conversions, "post_click": r.post_click,
                            "post_view": r.post_view, "value_minor": r.value_minor,
                            "currency": r.currency, "spend_minor": r.spend_minor,
                            "cost": r.cost_per_conversion_minor, "roas": r.roas}
            for r in assemble(request, total_credits(rows, group_by),
                              spend_totals(spend, request))]


def test_totals_count_each_conversion_once_and_sum_its_value_once() -> None:
    [row] = report(())
    assert (row["conversions"], row["post_click"], row["post_view"], row["value_minor"]) == \
        (3, 2, 2, 1500)


def test_totals_and_days_carry_the_spend_of_every_visible_campaign() -> None:
    [row] = report(())  # ADR 0037: the account's spend, cost per conversion and ROAS
    assert (row["spend_minor"], row["cost"], row["roas"]) == (4000, 1333, 0.375)
    days = {r["day"]: (r["conversions"], r["spend_minor"], r["cost"]) for r in report(("day",))}
    assert days == {"2026-03-01": (2, 3000, 1500), "2026-03-02": (1, 1000, 1000)}


def test_spends_in_several_currencies_are_not_added_up() -> None:
    spend = {("c1", DAY1.isoformat()): (3000, "USD"), ("c2", DAY1.isoformat()): (500, "EUR")}
    [row] = report((), spend=spend)
    assert (row["spend_minor"], row["cost"], row["roas"]) == (None, None, None)
    by_campaign = {r["campaign"]: r["spend_minor"] for r in report(("campaign",), spend=spend)}
    assert by_campaign == {"c1": 3000, "c2": 500}


def test_grouped_by_campaign_a_conversion_counts_for_every_campaign_it_credits() -> None:
    rows = {r["campaign"]: r for r in report(("campaign",))}
    assert (rows["c1"]["conversions"], rows["c2"]["conversions"]) == (2, 2)
    assert (rows["c1"]["value_minor"], rows["c2"]["value_minor"]) == (1500, 1000)


def test_cost_per_conversion_is_spend_over_conversions_rounded_half_up() -> None:
    rows = {r["campaign"]: r for r in report(("campaign",))}
    assert rows["c1"]["spend_minor"] == 4000 and rows["c1"]["cost"] == 2000
    three = [credit(f"y{i}", "c1") for i in range(3)]
    [row] = report(("campaign",), three, {("c1", DAY1.isoformat()): (1000, "USD")})
    assert row["cost"] == 333  # 333.33 rounds down
    [row] = report(("campaign",), three[:2], {("c1", DAY1.isoformat()): (1001, "USD")})
    assert row["cost"] == 501  # 500.5 rounds half up


def test_roas_is_value_over_spend_and_null_without_spend_or_with_another_currency() -> None:
    rows = {r["campaign"]: r for r in report(("campaign",))}
    assert rows["c1"]["roas"] == 0.375 and rows["c2"]["roas"] is None  # c2 spent 0
    [row] = report(("campaign",), [credit("x1", "c1", currency="EUR")],
                   {("c1", DAY1.isoformat()): (1000, "USD")})
    assert row["roas"] is None and row["spend_minor"] == 1000


def test_spend_is_given_only_for_campaign_and_day_groupings() -> None:
    by_day = {(r["campaign"], r["day"]): r["spend_minor"] for r in report(("campaign", "day"))}
    assert by_day == {("c1", "2026-03-01"): 3000, ("c1", "2026-03-02"): 1000,
                      ("c2", "2026-03-01"): 0}
    assert all(r["spend_minor"] is None for r in report(("campaign", "action")))
    assert all(r["spend_minor"] is None for r in report(("kind",)))


def test_a_campaign_with_spend_and_no_conversion_still_gets_a_row() -> None:
    rows = report(("campaign",), [], {("c1", DAY1.isoformat()): (700, "USD")})
    assert rows == [{"campaign": "c1", "conversions": 0, "post_click": 0, "post_view": 0,
                     "value_minor": 0, "currency": "USD", "spend_minor": 700, "cost": None,
                     "roas": 0.0}]


def test_values_in_several_currencies_give_a_row_per_currency() -> None:
    rows = report(("action",), [credit("x1", "c1"), credit("x2", "c1", currency="EUR"),
                                credit("x3", "c1", value=None)])
    assert sorted((r["currency"] or "", r["conversions"], r["value_minor"]) for r in rows) == \
        [("", 1, 0), ("EUR", 1, 1000), ("USD", 1, 1000)]


def test_the_date_range_is_inclusive() -> None:
    [row] = report((), day_from=DAY2, day_to=DAY2)
    assert row["conversions"] == 1 and row["value_minor"] == 500


@pytest.mark.parametrize("group_by", [combo for n in range(len(GROUP_KEYS) + 1)
                                      for combo in itertools.combinations(GROUP_KEYS, n)]
                         + [("day", "campaign"), ("category", "kind", "action")])
def test_every_group_by_combination_gives_rows_with_exactly_its_keys(
    group_by: tuple[str, ...]
) -> None:
    rows = report(group_by)
    assert rows and all(set(r) - {"conversions", "post_click", "post_view", "value_minor",
                                  "currency", "spend_minor", "cost", "roas"} == set(group_by)
                        for r in rows)
    if "campaign" not in group_by and "kind" not in group_by:
        assert sum(int(r["conversions"]) for r in rows) == 3  # type: ignore[call-overload]
