"""Fractional credits in the PostgreSQL read model: stored with their credit, summed by reports
as the in-memory view sums them, kept through an erasure (ADR 0035)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from adapters.bootstrap import Container, ReadModels
from adapters.postgres.read_models import create_read_models, open_pool
from adapters.read_side.catch_up import catch_up as drive
from application.access import Caller
from domain.member_timeline import ERASED
from domain.values import Money
from projections.attribution.projection import AttributionProjection
from projections.memory_views import InMemoryAttributionView, InMemoryReportQueries
from projections.reporting import ReportRequest, as_number
from tests.adapters.test_read_models_postgres import everything, outcomes
from tests.projections.world import World, days

GROUPINGS = [(), ("campaign",), ("kind",), ("campaign", "day"), ("action", "category")]


def credit_rows(database_url: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql.SQL("SELECT event_id, campaign_id, kind, credit, value_minor "
                                    "FROM {} ORDER BY 1, 2").format(
                                        sql.Identifier(schema, "attribution_credits"))).fetchall()


def shop(world: World) -> tuple[str, str, str, str]:
    """A linear purchase action and a last-touch one, over the same two campaigns, with
    conversions of both: m1's is shared 2/3 : 1/3, m2's is whole, m3's credits both."""
    c1, c2 = world.campaign(), world.campaign()
    linear = world.action([c1, c2], category="purchase", attribution="linear")
    each = world.action([c1, c2], category="purchase")
    for at, campaign in ((3, c1), (2, c2), (1, c1)):
        world.click("m1", campaign, world.now - days(at))
    x1 = world.convert("m1", linear, world.now, Money(100, "USD"))
    world.click("m2", c2, world.now - days(1))
    world.convert("m2", linear, world.now, Money(50, "USD"))
    world.click("m3", c1, world.now - days(2))
    world.impression("m3", c2, world.now - days(1))
    world.convert("m3", each, world.now, Money(1000, "USD"))
    return c1, c2, linear, x1


def test_a_fractional_conversion_is_stored_with_each_campaigns_credit_and_share(
    pg_container: Container, read_models: ReadModels, catch_up: Any, database_url: str,
    pg_schema: str,
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    c1, c2, _, x1 = shop(world)
    catch_up()
    rows = {(r[0], r[1]): r[2:] for r in credit_rows(database_url, pg_schema)}
    assert rows[(x1, c1)] == ("post_click", 2 / 3, 67)
    assert rows[(x1, c2)] == ("post_click", 1 / 3, 33)
    assert sorted(v[1] for k, v in rows.items() if k[0] != x1) == [1.0, 1.0, 1.0]
    found = {e: c for (_, e), c in everything(read_models, world).items()}
    assert [(c.campaign_id, c.credit) for c in found[x1].outcome.credits] == \
        [(c2, 1 / 3), (c1, 2 / 3)]


def test_reports_in_postgresql_sum_fractional_conversions_and_their_value(
    pg_container: Container, read_models: ReadModels, catch_up: Any,
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    c1, c2, linear, _ = shop(world)
    catch_up()

    def report(group_by: tuple[str, ...]) -> dict[Any, tuple[Any, ...]]:
        rows = read_models.reports.report(ReportRequest(
            frozenset({world.tag_id}), frozenset({c1, c2}), None, None, group_by))
        return {tuple(r.keys.values()): (as_number(r.conversions), as_number(r.post_click),
                                         as_number(r.post_view), r.value_minor)
                for r in rows}

    # Three conversions; m1's 100 shared as 67 + 33, m3's 1,000 counted once.
    assert report(()) == {(): (3, 3, 1, 1150)}
    # By campaign: c1 2/3 (m1) + 1 (m3); c2 1/3 (m1) + 1 (m2) + 1 (m3, post-view).
    assert report(("campaign",)) == {(c1,): (1.666666666667, 1.666666666667, 0, 1067),
                                     (c2,): (2.333333333333, 1.333333333333, 1, 1083)}
    assert report(("action",))[(linear,)] == (2, 2, 0, 150)


@pytest.mark.parametrize("group_by", GROUPINGS)
def test_postgresql_reports_give_what_the_in_memory_reports_give(
    pg_container: Container, read_models: ReadModels, catch_up: Any, group_by: tuple[str, ...],
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    c1, c2, _, _ = shop(world)
    for model in ("first_touch", "time_decay", "position_based"):
        action = world.action([c1, c2], category="lead", attribution=model)
        for i in range(4):
            world.click(f"{model}{i % 2}", [c1, c2][i % 2], world.now - days(5 - i))
            world.impression(f"{model}{i % 2}", [c2, c1][i % 2], world.now - days(4.5 - i))
            world.convert(f"{model}{i % 2}", action, world.now - days(4 - i), Money(999, "USD"))
        world.spend(c1, (world.now - days(1)).date().isoformat(), 1234)
    catch_up()
    memory = InMemoryAttributionView()
    drive(AttributionProjection(memory), pg_container.sources, 7)
    assert outcomes(everything(read_models, world)) == outcomes(dict(memory.conversions))
    request = ReportRequest(frozenset({world.tag_id}), frozenset({c1, c2}), None, None,
                            group_by)
    assert read_models.reports.report(request) == InMemoryReportQueries(memory).report(request)


def test_an_erasure_in_postgresql_keeps_the_fractional_credits(
    pg_container: Container, read_models: ReadModels, catch_up: Any, database_url: str,
    pg_schema: str,
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    c1, c2, _, x1 = shop(world)
    catch_up()
    before = credit_rows(database_url, pg_schema)
    world.ingestion.erase(Caller.admin(), "m1")
    catch_up()
    assert credit_rows(database_url, pg_schema) == before
    found = {e: c for (_, e), c in everything(read_models, world).items()}
    assert [(c.campaign_id, c.touch_event_id, c.credit) for c in found[x1].outcome.credits] == \
        [(c2, ERASED, 1 / 3), (c1, ERASED, 2 / 3)]


def test_a_credits_table_from_before_fractional_models_gets_whole_credits(
    database_url: str, pg_schema: str,
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The table as it was created before ADR 0035, with one credit in it.
        conn.execute(sql.SQL(
            "CREATE TABLE {} (tag_id text NOT NULL, event_id text NOT NULL, campaign_id text "
            "NOT NULL, action_id text NOT NULL, category text, day date NOT NULL, kind text NOT "
            "NULL, value_minor bigint, currency text, PRIMARY KEY (tag_id, event_id, "
            "campaign_id))").format(sql.Identifier(pg_schema, "attribution_credits")))
        conn.execute(sql.SQL("INSERT INTO {} VALUES ('t', 'x', 'c', 'a', NULL, '2026-03-01', "
                             "'post_click', 500, 'USD')").format(
                                 sql.Identifier(pg_schema, "attribution_credits")))
    with open_pool(database_url, 2) as pool:
        create_read_models(pool, pg_schema)
        create_read_models(pool, pg_schema)  # and again: nothing changes
    with psycopg.connect(database_url) as conn:
        assert conn.execute(sql.SQL("SELECT credit, value_minor FROM {}").format(
            sql.Identifier(pg_schema, "attribution_credits"))).fetchall() == [(1.0, 500)]


def test_report_counts_are_exact_decimals_to_twelve_places() -> None:
    assert as_number(Decimal("2.000000000000")) == 2
    assert isinstance(as_number(Decimal("2.000000000000")), int)
    assert as_number(Decimal("0.333333333333")) == 0.333333333333
