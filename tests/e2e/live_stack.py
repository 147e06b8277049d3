"""A whole convtrack stack per schema for end-to-end tests, and rebuilds beside it.

A stack is the real thing on real PostgreSQL and NATS: a container in a fresh schema, its read
models, the relay and workers (ReadSideRuntime) on its deployment's own stream, and the
HTTP app. A rebuild is a second set of read models in ANOTHER schema over the SAME event store:
the read-model tables follow `container.settings.database_schema`, while the event store is the
container's applications, so a Container with the same applications and another schema is a
rebuild target that shares the store (adapters/bootstrap.py: build_read_models).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

import nats
import psycopg
from litestar import Litestar
from litestar.testing import TestClient
from psycopg import sql

from adapters.bootstrap import (
    Container,
    ReadModels,
    build_app,
    build_container,
    build_read_models,
    catch_up_from_store,
)
from adapters.nats.envelope import MSG_ID
from adapters.nats.stream import ensure_stream
from adapters.nats.subjects import Topology
from adapters.postgres.listen import Wakeup
from adapters.read_side.relay import Relay
from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime
from adapters.read_side.worker import WorkerOptions
from adapters.settings import Settings
from tests.adapters.read_side_support import store_events, wait_until

# Small batches on both hops, so one phase of the workload is cut across many projection
# batches: a member's conversion and its late touch land in different batches, as in production
# under load (the bug fixed in 9869612 only showed when they did).
LIVE_WORKER = WorkerOptions(batch_size=16, fetch_timeout=0.05, heartbeat_interval=0.2,
                            retry_base=0.001, ack_wait=5.0)
LIVE_OPTIONS = ReadSideOptions(worker=LIVE_WORKER, relay_page_size=40)

def new_schema(database_url: str) -> str:
    """A fresh, uniquely named schema (drop it with drop_schema)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return name


def drop_schema(database_url: str, schema: str) -> None:
    """Drop a schema and everything in it."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(schema)))


def drop_stream(nats_url: str, topology: Topology) -> None:
    """Delete a test's JetStream stream (and its consumers)."""
    async def drop() -> None:
        connection = await nats.connect(nats_url)
        try:
            with contextlib.suppress(Exception):
                await connection.jetstream().delete_stream(topology.stream)
        finally:
            await connection.close()
    asyncio.run(drop())


def start_read_side(container: Container, read_models: ReadModels, nats_url: str,
                    options: ReadSideOptions = LIVE_OPTIONS) -> ReadSideRuntime:
    """The relay and both workers, started and waited for until every worker is live."""
    runtime = ReadSideRuntime(container.read_side, read_models.projections, nats_url,
                              options).start()
    expected = len(read_models.projections)
    wait_until(lambda: len(runtime.workers) == expected
               and all(w.status == "live" for w in runtime.workers), 20, "the workers to go live")
    return runtime


def relay_one_log(container: Container, nats_url: str, application: str) -> int:
    """Publish one application's whole log now, as a relay does; the events published.

    The relay publishes each round's management page first; publishing the ingestion log
    alone beforehand makes the workers see facts before the campaigns and actions they name.
    """
    async def run() -> int:
        connection = await nats.connect(nats_url)
        try:
            js = connection.jetstream()
            topology = container.topology  # the running read side's (ADR 0023)
            await ensure_stream(js, topology)
            state = container.state
            relay = Relay({application: container.sources[application]}, state, js,
                          topology, Wakeup(0.1), page_size=LIVE_OPTIONS.relay_page_size)
            relay.positions = {application: state.relay_positions().get(application, 0)}
            published = 0
            while moved := await relay.relay_page(application):
                published += moved
            return published
        finally:
            await connection.close()
    return asyncio.run(run())


@dataclass
class Stack:
    """One deployment: container, read models, running read side, HTTP client."""

    schema: str
    container: Container
    read_models: ReadModels
    runtime: ReadSideRuntime
    client: TestClient[Litestar]


@contextlib.contextmanager
def stack(database_url: str, nats_url: str, admin_token: str) -> Iterator[Stack]:
    """A whole stack in a fresh schema and stream, torn down afterwards."""
    schema = new_schema(database_url)
    container = build_container(Settings(database_url=database_url, database_schema=schema,
                                         pool_size=2), admin_token)
    topology = container.topology
    read_models = build_read_models(container)
    runtime = None
    try:
        runtime = start_read_side(container, read_models, nats_url)
        with TestClient(build_app(container, read_models)) as client:
            yield Stack(schema, container, read_models, runtime, client)
    finally:
        if runtime is not None:
            runtime.stop()
        read_models.close()
        container.close()
        drop_stream(nats_url, topology)
        drop_schema(database_url, schema)


@contextlib.contextmanager
def rebuilt(container: Container) -> Iterator[tuple[Container, ReadModels]]:
    """Read models built from scratch in another schema over the same event store."""
    settings = container.settings
    assert settings.database_url is not None
    schema = new_schema(settings.database_url)
    twin = replace(container, settings=replace(settings, database_schema=schema))
    read_models = build_read_models(twin)
    try:
        catch_up_from_store(read_models, twin)
        yield twin, read_models
    finally:
        read_models.close()  # not twin.close(): the applications are the live container's
        drop_schema(settings.database_url, schema)


def stream_msg_ids(url: str, topology: Topology) -> list[str]:
    """The Nats-Msg-Id of every message in a stream, read with an ephemeral consumer."""
    async def read() -> list[str]:
        connection = await nats.connect(url)
        try:
            js = connection.jetstream()
            total = (await js.stream_info(topology.stream)).state.messages
            subscription = await js.pull_subscribe(f"{topology.root}.>", stream=topology.stream)
            ids: list[str] = []
            while len(ids) < total:
                for message in await subscription.fetch(1000, timeout=5):
                    ids.append((message.headers or {})[MSG_ID])
                    await message.ack()
            await subscription.unsubscribe()
            return ids
        finally:
            await connection.close()
    return asyncio.run(read())


def expected_msg_ids(container: Container) -> list[str]:
    """The message ids of every event in a deployment's store, sorted."""
    return sorted(container.topology.msg_id(a, p) for a, p in store_events(container))
