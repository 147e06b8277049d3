"""Fractional models in the attribution read model and its reports (ADR 0035)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.values import Money
from projections.attribution.records import CreditRow
from projections.memory_views import InMemoryReportQueries
from projections.reporting import ReportRequest, assemble, as_number, total_credits
from tests.projections.test_attribution_projection import conversion, project, snapshot
from tests.projections.world import World, days

DAY = date(2026, 3, 1)


def row(event_id: str, campaign: str, credit: float, value: int | None, kind: str = "post_click"
        ) -> CreditRow:
    return CreditRow("t1", event_id, campaign, "a1", "purchase", DAY, kind, value,
                     None if value is None else "USD", credit)


def report(rows: list[CreditRow], group_by: tuple[str, ...],
           spend: dict[tuple[str, ...], tuple[int, str | None]] | None = None
           ) -> dict[tuple[str | None, ...], tuple[int | float, int | float, int]]:
    """(conversions, post_view, value_minor) per group."""
    return {keys: measures[:3] for keys, measures in measured(rows, group_by, spend).items()}


def measured(rows: list[CreditRow], group_by: tuple[str, ...],
             spend: dict[tuple[str, ...], tuple[int, str | None]] | None = None
             ) -> dict[tuple[str | None, ...], tuple[int | float, int | float, int, int | None]]:
    request = ReportRequest(frozenset({"t1"}), frozenset({"c1", "c2"}), None, None, group_by)
    return {tuple(r.keys.values()): (as_number(r.conversions), as_number(r.post_view),
                                     r.value_minor, r.cost_per_conversion_minor)
            for r in assemble(request, total_credits(rows, group_by), spend or {})}


def test_a_report_counts_the_credits_a_conversion_has_in_each_group() -> None:
    rows = [row("x1", "c1", 2 / 3, 6667), row("x1", "c2", 1 / 3, 3333)]
    assert report(rows, ("campaign",)) == {("c1",): (0.666666666667, 0, 6667),
                                           ("c2",): (0.333333333333, 0, 3333)}


def test_credits_that_add_up_to_one_count_as_exactly_one_conversion() -> None:
    # Three thirds add up to 0.9999999999999999 in floats: the report still says 1.
    thirds = [row("x1", "c1", 1 / 3, 33), row("x1", "c2", 1 / 3, 33),
              row("x1", "c3", 1 / 3, 33)]
    assert report(thirds, ()) == {(): (1, 0, 99)}


def test_a_fractional_value_is_the_sum_of_the_rounded_shares() -> None:
    # 100 split three ways is 33 + 33 + 33: shares are rounded credit by credit.
    rows = [row("x1", "c1", 1 / 3, 33), row("x1", "c2", 1 / 3, 33), row("x1", "c3", 1 / 3, 33),
            row("x2", "c1", 1.0, 500)]
    assert report(rows, ())[()][2] == 599


def test_whole_credits_still_count_a_conversion_and_its_value_once_per_group() -> None:
    rows = [row("x1", "c1", 1.0, 1000), row("x1", "c2", 1.0, 1000, "post_view")]
    assert report(rows, ()) == {(): (1, 1, 1000)}
    assert report(rows, ("campaign",)) == {("c1",): (1, 0, 1000), ("c2",): (1, 1, 1000)}


def test_a_count_is_an_integer_when_whole_and_a_float_otherwise() -> None:
    assert as_number(Decimal("3.000000000000")) == 3
    assert type(as_number(Decimal("3.000000000000"))) is int
    assert as_number(Decimal("1.333333333333")) == 1.333333333333


def test_cost_per_conversion_divides_by_fractional_conversions_rounded_half_up() -> None:
    rows = [row("x1", "c1", 0.4, 40), row("x2", "c1", 0.4, 40)]
    [(count, _, _, cost)] = measured(rows, ("campaign",), {("c1",): (1001, "USD")}).values()
    assert (count, cost) == (0.8, 1251)  # 1,001 / 0.8 = 1,251.25


def fractional_world() -> tuple[World, str, str, str]:
    world = World.in_memory()
    c1, c2 = world.campaign(), world.campaign()
    action = world.action([c1, c2], category="sign_up", attribution="position_based")
    return world, c1, c2, action


def test_the_projection_stores_each_campaigns_credit() -> None:
    world, c1, c2, action = fractional_world()
    world.click("m1", c1, world.now - days(4))
    world.click("m1", c2, world.now - days(3))
    world.click("m1", c2, world.now - days(2))
    x = world.convert("m1", action, world.now - days(1), Money(1000, "USD"))
    view = project(world)
    # In the order of the touches they name: c1's latest click is the older one.
    assert [(c.campaign_id, c.credit) for c in conversion(view, x).outcome.credits] == \
        [(c1, 0.4), (c2, 0.6)]
    assert {(r.campaign_id, r.credit, r.value_minor) for r in view.all_credits()} == \
        {(c1, 0.4, 400), (c2, 0.6, 600)}


def test_counting_one_spends_the_touches_of_every_campaign_that_got_a_share() -> None:
    world, c1, c2, action = fractional_world()
    world.click("m1", c1, world.now - days(4))
    world.click("m1", c2, world.now - days(3))
    world.convert("m1", action, world.now - days(2))
    second = world.convert("m1", action, world.now - days(1))
    late = world.impression("m1", c1, world.now - days(1.5))
    view = project(world)
    assert [(c.campaign_id, c.kind, c.touch_event_id, c.credit)
            for c in conversion(view, second).outcome.credits] == [(c1, "post_view", late, 1.0)]


def test_a_late_touch_reshares_the_credit_and_equals_in_order_arrival() -> None:
    world, c1, c2, action = fractional_world()
    world.click("m1", c1, world.now - days(4))
    x = world.convert("m1", action, world.now - days(1), Money(999, "USD"))
    live = project(world)
    assert [(c.campaign_id, c.credit) for c in conversion(live, x).outcome.credits] == [(c1, 1.0)]
    world.click("m1", c2, world.now - days(3))
    world.click("m1", c1, world.now - days(2))
    project(world, live)
    assert [(c.campaign_id, c.credit) for c in conversion(live, x).outcome.credits] == \
        [(c2, 0.2), (c1, 0.8)]
    assert snapshot(project(world, batch_size=2)) == snapshot(live)
    request = ReportRequest(frozenset({world.tag_id}), frozenset(), None, None, ("campaign",))
    values = {r.keys["campaign"]: (as_number(r.conversions), r.value_minor)
              for r in InMemoryReportQueries(live).report(request)}
    assert values == {c1: (0.8, 799), c2: (0.2, 200)}  # 799.2 and 199.8, rounded
