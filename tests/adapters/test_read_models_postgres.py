"""The read-model stores on a real PostgreSQL: the projection's key scenarios, end to end."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from adapters.bootstrap import Container, ReadModels
from adapters.read_side.catch_up import catch_up as drive, read_envelopes
from domain.values import Money
from projections.attribution.projection import AttributionProjection
from projections.attribution.records import ConversionFilter, ConversionRecord
from projections.audit import AuditFilter
from projections.memory_views import InMemoryAttributionView
from projections.reporting import ReportRequest, as_number
from tests.projections.world import World, days


def everything(models: ReadModels, world: World) -> dict[tuple[str, str], ConversionRecord]:
    tags = [str(t.id) for t in world.management.list_tags(world.owner)]
    found = models.conversions.list_conversions(ConversionFilter(frozenset(tags), limit=10_000))
    return {c.key: c for c in found}


def outcomes(records: dict[tuple[str, str], ConversionRecord]) -> dict[Any, Any]:
    return {k: (c.outcome, c.rules, c.category, c.member_id, c.seq) for k, c in records.items()}


def credit_rows(database_url: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql.SQL("SELECT tag_id, event_id, campaign_id, kind, value_minor "
                                    "FROM {} ORDER BY 1, 2, 3").format(
                                        sql.Identifier(schema, "attribution_credits"))).fetchall()


def test_the_worked_examples_come_out_of_postgresql_as_the_rules_say(
    pg_container: Container, read_models: ReadModels, catch_up: Any,
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    c1, c2 = world.campaign(), world.campaign()
    download = world.action([c1])
    world.impression("m1", c1, world.now - days(40))
    click = world.click("m1", c1, world.now - days(10))
    world.impression("m1", c1, world.now - days(3))
    first = world.convert("m1", download, world.now - days(1))
    second = world.convert("m1", download, world.now - days(1) + days(1 / 24))
    last = world.action([c1, c2], attribution="last_touch_last_campaign")
    world.click("m2", c1, world.now - days(5))
    world.impression("m2", c2, world.now - days(1))
    third = world.convert("m2", last, world.now)
    purchase = world.action([c1], category="purchase")
    world.click("m3", c1, world.now - days(2))
    world.convert("m3", purchase, world.now - days(1), Money(10000, "USD"))
    world.convert("m3", purchase, world.now, Money(5000, "USD"))
    catch_up()
    found = {e: c for (_, e), c in everything(read_models, world).items()}
    assert [(c.campaign_id, c.kind, c.touch_event_id) for c in found[first].outcome.credits] \
        == [(c1, "post_click", click)]
    assert found[second].outcome.status == "deduplicated"
    assert [c.campaign_id for c in found[third].outcome.credits] == [c1]
    rows = read_models.reports.report(ReportRequest(
        frozenset({world.tag_id}), frozenset(), None, None, ("category",)))
    by_category = {r.keys["category"]: (as_number(r.conversions), r.value_minor, r.currency)
                   for r in rows}
    assert by_category == {"download": (2, 0, None), "purchase": (2, 15000, "USD")}


def test_postgresql_gives_what_the_in_memory_view_gives(
    pg_container: Container, read_models: ReadModels, catch_up: Any,
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    c1, c2 = world.campaign(), world.campaign()
    each = world.action([c1, c2])
    purchase = world.action([c1, c2], category="purchase", attribution="last_touch_last_campaign")
    for i in range(8):
        member = f"m{i % 3}"
        world.impression(member, [c1, c2][i % 2], world.now - days(9 - i))
        world.convert(member, each, world.now - days(8.5 - i))
        world.click(member, c2, world.now - days(20 - i))
        world.convert(member, purchase, world.now - days(8 - i), Money(100 + i, "EUR"))
    catch_up()
    memory = InMemoryAttributionView()  # the same events, in other batches, into memory
    drive(AttributionProjection(memory), pg_container.sources, 5)
    assert outcomes(everything(read_models, world)) == outcomes(
        {k: v for k, v in memory.conversions.items()})


def test_a_late_touch_moves_the_credits_in_postgresql(
    pg_container: Container, read_models: ReadModels, catch_up: Any, database_url: str,
    pg_schema: str,
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    c1, c2 = world.campaign(), world.campaign()
    action = world.action([c1, c2], attribution="last_touch_last_campaign")
    world.impression("m1", c1, world.now - days(1))
    x = world.convert("m1", action, world.now)
    catch_up()
    assert [(r[2], r[3]) for r in credit_rows(database_url, pg_schema)] == [(c1, "post_view")]
    world.click("m1", c2, world.now - days(3))
    catch_up()
    assert [(r[1], r[2], r[3]) for r in credit_rows(database_url, pg_schema)] == \
        [(x, c2, "post_click")]


def test_redelivered_batches_change_nothing_in_postgresql(
    pg_container: Container, read_models: ReadModels, database_url: str, pg_schema: str,
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    c1 = world.campaign()
    action = world.action([c1])
    world.click("m1", c1, world.now - days(1))
    world.convert("m1", action, world.now)
    projection = read_models.attribution
    batches = [read_envelopes(n, app, 0, 1000) for n, app in pg_container.sources.items()]
    for batch in batches * 3:
        projection.process_batch(batch)
    assert len(credit_rows(database_url, pg_schema)) == 1
    assert len(everything(read_models, world)) == 1
    assert projection.tracked_positions() == {n: b[-1].position for n, b in
                                              zip(("management", "ingestion"), batches,
                                                  strict=True)}


def test_a_rebuild_from_scratch_in_postgresql_equals_the_live_result(
    pg_container: Container, read_models: ReadModels, catch_up: Any, database_url: str,
    pg_schema: str,
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    c1, c2 = world.campaign(), world.campaign()
    action = world.action([c1, c2], counting="one")
    for i in range(4):
        world.click(f"m{i % 2}", [c1, c2][i % 2], world.now - days(5 - i))
        catch_up()
        world.convert(f"m{i % 2}", action, world.now - days(4.5 - i))
        catch_up()
    world.impression("m0", c2, world.now - days(9))
    catch_up()
    live = outcomes(everything(read_models, world))
    live_credits = credit_rows(database_url, pg_schema)
    with psycopg.connect(database_url) as conn:
        for name in ("members", "touches", "conversions", "credits", "actions", "campaigns",
                     "spend"):
            conn.execute(sql.SQL("TRUNCATE {}").format(
                sql.Identifier(pg_schema, f"attribution_{name}")))
        conn.execute(sql.SQL("UPDATE {} SET position = 0").format(
            sql.Identifier(pg_schema, "attribution_tracking")))
    assert everything(read_models, world) == {}
    catch_up()
    assert outcomes(everything(read_models, world)) == live
    assert credit_rows(database_url, pg_schema) == live_credits


def test_the_audit_trail_in_postgresql_scopes_rows_to_what_an_account_can_see(
    pg_container: Container, read_models: ReadModels, catch_up: Any,
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    campaign = world.campaign()
    world.action([campaign])
    stranger = world.account("stranger")
    world.management.create_tag(stranger, "theirs")
    catch_up()
    catch_up()  # a second run finds nothing new
    owner_id = world.owner.account_id
    assert owner_id is not None and stranger.account_id is not None
    mine = read_models.audit_trail.list_audit(AuditFilter(frozenset({owner_id}),
                                                          frozenset({world.tag_id})))
    types = [r.type for r in mine]
    assert types[:2] == ["Account.Created", "InsightTag.Created"]
    assert "ConversionAction.Created" in types and "Campaign.Created" in types
    assert all("api_key_hash" not in r.data for r in mine)
    theirs = read_models.audit_trail.list_audit(AuditFilter(frozenset({stranger.account_id}),
                                                             frozenset()))
    assert {r.type for r in theirs} == {"Account.Created", "InsightTag.Created",
                                        "Account.TagAdded"}
    assert not {r.position for r in mine} & {r.position for r in theirs}


def test_a_parked_event_in_postgresql_is_listed_and_tracking_moves_past_it(
    pg_container: Container, read_models: ReadModels,
) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    world.campaign()
    [first, *_] = read_envelopes("management", world.management, 0, 10)
    for projection in read_models.projections:
        projection.park(first, "boom", 5)
        projection.park(first, "boom again", 6)  # already past it: nothing changes
        [parked] = projection.list_parked()
        assert (parked.position, parked.error, parked.attempts) == (first.position, "boom", 5)
        assert projection.tracked_positions()["management"] == first.position
