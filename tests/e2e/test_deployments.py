"""Deployments never mix on one NATS server (issue 9, point 1; ADR 0023).

Each deployment's names on the wire carry an id its database made at bootstrap: two databases
with the same schema name, a database started afresh after another used the server, and
schemas spelt alike all get their own stream, subjects and message ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import nats
import psycopg
import pytest
from eventsourcing.persistence import Notification
from litestar.testing import TestClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.bootstrap import Container, build_app, build_container, build_read_models
from adapters.metrics import PROJECTION_FOREIGN, PROJECTION_GAP_FILLS, RELAY_DUPLICATES
from adapters.nats.envelope import DEPLOYMENT, to_message
from adapters.nats.stream import ensure_stream
from adapters.nats.subjects import Topology, snake
from adapters.postgres.deployment import deployment_id
from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime
from adapters.settings import Settings
from tests.adapters.read_side_support import (
    CountingProjection,
    record_touches,
    store_events,
    store_positions,
    wait_until,
)
from tests.conftest import ADMIN_TOKEN
from tests.e2e.fault_process import WORKER_OPTIONS
from tests.e2e.live_answers import assert_live_equals_rebuild, list_all_conversions
from tests.e2e.live_stack import (
    drop_stream,
    expected_msg_ids,
    start_read_side,
    stream_msg_ids,
)
from tests.e2e.live_workload import Advertiser, FactMaker, batches_of, catalogue


@contextlib.contextmanager
def another_database(database_url: str) -> Iterator[str]:
    """A new database on the test server, dropped (with whatever still uses it) afterwards."""
    name = f"convtrack_t_{uuid.uuid4().hex[:10]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(create)
    try:
        yield make_conninfo(database_url, dbname=name)
    finally:
        drop_database(database_url, name)


def drop_database(database_url: str, name: str) -> None:
    """Drop a database, closing any session still in it."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def database_name(url: str) -> str:
    """The database a connection string names."""
    return str(conninfo_to_dict(url)["dbname"])


def container_in(database_url: str, schema: str) -> Container:
    """A deployment's write side in this database and schema."""
    return build_container(Settings(database_url=database_url, database_schema=schema,
                                    pool_size=2), ADMIN_TOKEN)


def foreign_count() -> float:
    """Messages of other deployments this process's workers ignored so far."""
    return sum(PROJECTION_FOREIGN.labels(n)._value.get()
               for n in ("attribution", "audit", "counting"))


@pytest.mark.slow
def test_two_databases_with_the_same_schema_on_one_nats_each_read_only_their_own(
        database_url: str, nats_url: str, pg_schema: str, pg_container: Container) -> None:
    with another_database(database_url) as other_url:
        # The same schema name in both databases: the case that used to share one stream.
        other = container_in(other_url, pg_schema)
        containers = {"a": pg_container, "b": other}
        assert pg_container.topology.deployment != other.topology.deployment
        assert pg_container.topology.stream != other.topology.stream
        models = {name: build_read_models(c) for name, c in containers.items()}
        runtimes: dict[str, ReadSideRuntime] = {}
        foreign_before = foreign_count()
        try:
            for name, container in containers.items():
                runtimes[name] = start_read_side(container, models[name], nats_url)
            clients = {name: TestClient(build_app(c, models[name]))
                       for name, c in containers.items()}
            sent: dict[str, set[str]] = {}
            shops: dict[str, Advertiser] = {}
            with clients["a"], clients["b"]:
                def write(name: str, seed: int) -> None:
                    now = datetime.now(UTC)
                    shop = shops[name] = Advertiser(clients[name], {
                        "Authorization": f"Bearer {ADMIN_TOKEN}"})
                    catalogue(shop, now)
                    maker, rng = FactMaker(now, seed=seed), random.Random(seed)
                    facts = [f for m in range(25) for f in maker.member_facts(
                        f"{name}-m{m:02d}", list(shop.campaigns), list(shop.actions))]
                    for batch in batches_of(facts, rng):
                        shop.send(batch)
                    sent[name] = {f.event_id for f in facts if f.kind == "conversion"}

                # Both deployments write at the same time, each with its relay and workers live.
                threads = [threading.Thread(target=write, args=(n, s))
                           for n, s in (("a", 5), ("b", 7))]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(60)
                assert set(sent) == {"a", "b"}, "a writer failed"
                for name, container in containers.items():
                    # Every read-model row and answer equals a rebuild from this store alone.
                    assert_live_equals_rebuild(
                        clients[name], {"shop": shops[name].auth}, container,
                        container.settings.database_url or "", pg_schema, explanations=False)
                    listed = set(list_all_conversions(clients[name], shops[name].auth))
                    assert listed == sent[name]
        finally:
            for runtime in runtimes.values():
                runtime.stop()
            for name, container in containers.items():
                models[name].close()
                drop_stream(nats_url, container.topology)
            other.close()
    assert sent["a"] and sent["b"] and not sent["a"] & sent["b"]
    assert foreign_count() == foreign_before  # the names alone kept them apart


def counting_runtime(container: Container, projection: CountingProjection, url: str
                     ) -> ReadSideRuntime:
    """The relay and a counting projection's worker on the deployment's own topology."""
    return ReadSideRuntime(container.read_side, [projection], url, ReadSideOptions(
        worker=WORKER_OPTIONS, relay_page_size=50)).start()


def test_a_fresh_database_after_another_deployment_used_the_same_nats_loses_nothing(
        database_url: str, nats_url: str) -> None:
    schema = "public"  # what two unconfigured deployments both use
    with another_database(database_url) as url:
        first = container_in(url, schema)
        counting = CountingProjection(url, schema)
        runtime = counting_runtime(first, counting, nats_url)
        try:
            record_touches(first, 60, per_batch=20)
            wait_until(lambda: counting.tracked_positions() == store_positions(first)
                       == first.state.relay_positions(), 20, "the first deployment's events")
            first_ids = expected_msg_ids(first)
        finally:
            runtime.stop()
            counting.close()
            first.close()
        # The same database name and schema, started afresh; the first one's stream, consumers
        # and message ids are still on the server, well inside the duplicate window.
        drop_database(database_url, database_name(url))
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(
                sql.Identifier(database_name(url))))
        second = container_in(url, schema)
        counting = CountingProjection(url, schema)
        gaps_before = PROJECTION_GAP_FILLS.labels("counting")._value.get()
        duplicates_before = RELAY_DUPLICATES.labels("ingestion")._value.get()
        runtime = counting_runtime(second, counting, nats_url)
        try:
            assert second.topology.stream != first.topology.stream
            wait_until(lambda: runtime.workers and runtime.workers[0].status == "live", 20,
                       "the worker to go live")
            record_touches(second, 60, per_batch=20)  # the positions the first one used
            wait_until(lambda: counting.tracked_positions() == store_positions(second)
                       == second.state.relay_positions(), 20, "the second deployment's events")
            applied, events = counting.applied(), store_events(second)
            second_ids, in_stream = expected_msg_ids(second), stream_msg_ids(nats_url,
                                                                             second.topology)
        finally:
            runtime.stop()
            counting.close()
            drop_stream(nats_url, second.topology)
            second.close()
        try:
            # The first deployment's stream holds its events alone, untouched by the second.
            assert sorted(stream_msg_ids(nats_url, first.topology)) == first_ids
        finally:
            drop_stream(nats_url, first.topology)
    # Every event of the new store went through NATS, none dropped as a copy of another's,
    # and each was applied exactly once.
    assert sorted(in_stream) == second_ids
    assert not set(second_ids) & set(first_ids)
    assert RELAY_DUPLICATES.labels("ingestion")._value.get() == duplicates_before
    assert PROJECTION_GAP_FILLS.labels("counting")._value.get() == gaps_before
    assert sorted(applied) == sorted(events)


def test_the_first_start_after_the_upgrade_uses_a_new_stream_and_catches_up_from_the_store(
        pg_container: Container, database_url: str, pg_schema: str, nats_url: str) -> None:
    # The schema as an earlier version left it: no deployment table, and a stream named after
    # the schema alone, with the relay's positions and the projection's tracking in the store.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP TABLE {}").format(
            sql.Identifier(pg_schema, "deployment")))
    legacy = Topology("legacy", stream=f"CONVTRACK_{pg_schema.upper()}",
                      root=f"convtrack_{pg_schema}")
    counting = CountingProjection(database_url, pg_schema)
    upgraded: Container | None = None
    try:
        runtime = ReadSideRuntime(pg_container.read_side, [counting], nats_url, ReadSideOptions(
            topology=legacy, worker=WORKER_OPTIONS, relay_page_size=50)).start()
        try:
            record_touches(pg_container, 40, prefix="before")
            wait_until(lambda: counting.tracked_positions() == store_positions(pg_container)
                       == pg_container.state.relay_positions(), 20, "the earlier version")
        finally:
            runtime.stop()
        relayed = pg_container.state.relay_positions()
        record_touches(pg_container, 40, prefix="during")  # while the read side is down

        upgraded = container_in(database_url, pg_schema)
        assert upgraded.topology.stream != legacy.stream
        runtime = counting_runtime(upgraded, counting, nats_url)
        try:
            record_touches(upgraded, 40, prefix="after")
            wait_until(lambda: counting.tracked_positions() == store_positions(upgraded)
                       == upgraded.state.relay_positions(), 20, "the upgraded read side")
        finally:
            runtime.stop()
        # Everything exactly once; the new stream starts where the relay had got to, and the
        # old one is left as it was.
        assert sorted(counting.applied()) == sorted(store_events(upgraded))
        assert sorted(stream_msg_ids(nats_url, upgraded.topology)) == sorted(
            upgraded.topology.msg_id(a, p) for a, p in store_events(upgraded)
            if p > relayed.get(a, 0))
        assert sorted(stream_msg_ids(nats_url, legacy)) == sorted(
            legacy.msg_id(a, p) for a, p in store_events(upgraded) if p <= relayed.get(a, 0))
    finally:
        counting.close()
        drop_stream(nats_url, legacy)
        if upgraded is not None:
            drop_stream(nats_url, upgraded.topology)
            upgraded.close()


def test_schemas_differing_only_in_case_or_dash_and_underscore_get_their_own_names(
        database_url: str, nats_url: str) -> None:
    token = uuid.uuid4().hex[:8]
    # One name each way the old names folded together: case, `-` for `_`, camel case.
    schemas = [f"dq_x{token}", f"Dq_x{token}", f"dq-x{token}", f"dqX{token}"]
    assert len({snake(schema) for schema in schemas}) == 1  # one stream, before ADR 0023
    topologies: dict[str, Topology] = {}
    with psycopg.connect(database_url, autocommit=True) as connection:
        try:
            for schema in schemas:
                connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                topologies[schema] = Topology.for_deployment(deployment_id(connection, schema))
                # Read thereafter: the next start of the same schema finds the same identity.
                assert deployment_id(connection, schema) == topologies[schema].deployment
            assert len({t.stream for t in topologies.values()}) == len(schemas)
            assert len({t.root for t in topologies.values()}) == len(schemas)
            asyncio.run(publish_one_each(nats_url, list(topologies.values())))
        finally:
            for schema in schemas:
                connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)))


async def publish_one_each(url: str, topologies: list[Topology]) -> None:
    """A stream per topology (JetStream refuses overlapping subjects), each holding only its
    own message."""
    connection = await nats.connect(url)
    js = connection.jetstream()
    try:
        for topology in topologies:
            await ensure_stream(js, topology)
        for topology in topologies:
            event = Notification(originator_id=uuid.uuid4(), originator_version=1,
                                 topic="convtrack:Account.Created", state=b"{}", id=1)
            subject, body, headers = to_message(topology, "management", event)
            ack = await js.publish(subject, body, headers=headers)
            assert ack.stream == topology.stream and not ack.duplicate
        for topology in topologies:
            assert (await js.stream_info(topology.stream)).state.messages == 1
            message = await js.get_last_msg(topology.stream, f"{topology.root}.>")
            assert (message.headers or {})[DEPLOYMENT] == topology.deployment
    finally:
        for topology in topologies:
            with contextlib.suppress(Exception):
                await js.delete_stream(topology.stream)
        await connection.close()


def test_a_restart_keeps_the_deployment_and_so_its_stream(
        pg_container: Container, database_url: str, pg_schema: str) -> None:
    again = container_in(database_url, pg_schema)
    try:
        assert again.topology == pg_container.topology
    finally:
        again.close()
