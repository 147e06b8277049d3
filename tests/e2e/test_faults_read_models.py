"""The real read models behind the relay and workers: redelivery changes no conversion or credit."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg import sql

from adapters.bootstrap import Container, ReadModels
from adapters.nats.subjects import Topology
from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime
from adapters.read_side.status import get_read_side_status
from domain.values import Money
from projections.attribution.records import ConversionFilter
from tests.adapters.read_side_support import wait_until
from tests.e2e.fault_process import WORKER_OPTIONS
from tests.e2e.test_faults import consumer_info, drop_stream, republish  # noqa: F401
from tests.projections.world import World, days


def credits(database_url: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql.SQL("SELECT tag_id, event_id, campaign_id, kind, value_minor "
                                    "FROM {} ORDER BY 1, 2, 3").format(
                                        sql.Identifier(schema, "attribution_credits"))).fetchall()


def all_applied(container: Container, read_models: ReadModels) -> bool:
    return all(p.lag == 0 for p in get_read_side_status(
        container.sources, container.state, read_models.projections).projections)


def drained(url: str, topology: Topology, names: list[str]) -> bool:
    infos = [consumer_info(url, topology, name) for name in names]
    return all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos)


def test_conversions_relayed_twice_are_attributed_and_credited_once(
        pg_container: Container, read_models: ReadModels, nats_url: str, database_url: str,
        pg_schema: str, read_side_topology: Topology) -> None:
    world = World(pg_container.management, pg_container.ingestion)
    campaign = world.campaign()
    purchase = world.action([campaign], category="purchase")
    runtime = ReadSideRuntime(pg_container.read_side, read_models.projections, nats_url,
                              ReadSideOptions(worker=WORKER_OPTIONS)).start()
    names = [p.name for p in read_models.projections]
    try:
        wait_until(lambda: all(w.status == "live" for w in runtime.workers)
                   and len(runtime.workers) == len(names), 20, "the workers to go live")
        for member in range(20):
            world.click(f"m{member}", campaign, world.now - days(2))
            world.convert(f"m{member}", purchase, world.now - days(1), Money(100, "USD"))
        wait_until(lambda: all_applied(pg_container, read_models), 30, "the projections")
        before = (credits(database_url, pg_schema), outcomes(read_models, world))

        asyncio.run(republish(pg_container, nats_url, read_side_topology))
        wait_until(lambda: drained(nats_url, read_side_topology, names), 30, "the copies")
    finally:
        runtime.stop()

    assert len(before[1]) == 20
    assert {outcome.status for outcome in before[1].values()} == {"attributed"}
    assert sum(row[4] for row in before[0]) == 20 * 100
    assert (credits(database_url, pg_schema), outcomes(read_models, world)) == before


def outcomes(read_models: ReadModels, world: World) -> dict[str, Any]:
    found = read_models.conversions.list_conversions(
        ConversionFilter(frozenset([world.tag_id]), limit=1000))
    return {c.event_id: c.outcome for c in found}
