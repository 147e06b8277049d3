"""Projection workers against real PostgreSQL and NATS: order, gaps, catch-up (issue 3, item 2)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import nats
import pytest
from eventsourcing.persistence import Notification
from nats.js import JetStreamContext

from adapters.bootstrap import Container, build_container, build_read_models
from adapters.metrics import PROJECTION_EVENTS, PROJECTION_FOREIGN, PROJECTION_GAP_FILLS
from adapters.nats.envelope import DEPLOYMENT, to_message
from adapters.nats.stream import ensure_stream
from adapters.nats.subjects import Topology
from adapters.postgres.listen import Wakeup
from adapters.read_side.relay import Relay
from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime
from adapters.read_side.status import get_read_side_status
from adapters.read_side.store_reader import StoreReader
from adapters.read_side.worker import ProjectionWorker, WorkerOptions
from adapters.settings import Settings
from tests.adapters.read_side_support import (
    CountingProjection,
    record_touches,
    store_events,
    store_positions,
    wait_until,
)

FAST = WorkerOptions(batch_size=100, idle_interval=0.2, page_size=100, retry_base=0.001,
                     check_interval=0.2, heartbeat_interval=0.5)


@pytest.fixture
def counting(database_url: str, pg_schema: str) -> Iterator[CountingProjection]:
    projection = CountingProjection(database_url, pg_schema)
    yield projection
    projection.close()


@pytest.fixture
async def stream(jetstream: JetStreamContext, read_side_topology: Topology) -> AsyncIterator[None]:
    await ensure_stream(jetstream, read_side_topology)
    yield


def worker_for(container: Container, projection: CountingProjection, js: JetStreamContext,
               topology: Topology, options: WorkerOptions = FAST) -> ProjectionWorker:
    return ProjectionWorker(projection, StoreReader(container.sources),
                            js, topology, container.state, options)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def caught_up(container: Container, projection: CountingProjection) -> Callable[[], bool]:
    return lambda: projection.tracked_positions() == store_positions(container)


async def test_a_live_worker_applies_every_relayed_event_once_in_log_order(
        pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology,
        stream: None, counting: CountingProjection) -> None:
    relay = Relay(pg_container.sources, pg_container.state, jetstream,
                  read_side_topology, Wakeup(0.05), page_size=50)
    worker = worker_for(pg_container, counting, jetstream, read_side_topology)
    nats_before = PROJECTION_EVENTS.labels("counting", "nats")._value.get()
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(worker.run())]
    try:
        await until(lambda: worker.status == "live", "the worker to go live")
        await asyncio.to_thread(record_touches, pg_container, 300, per_batch=30)
        await until(caught_up(pg_container, counting), "the projection to catch up")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    assert sorted(counting.applied()) == sorted(store_events(pg_container))
    for application in ("management", "ingestion"):
        positions = [p for a, p in counting.applied() if a == application]
        assert positions == sorted(positions)
    assert PROJECTION_EVENTS.labels("counting", "nats")._value.get() - nats_before >= 300
    assert pg_container.state.list_workers()["counting"].status == "stopped"


async def test_a_message_nats_never_delivered_is_read_from_the_store(
        pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology,
        stream: None, counting: CountingProjection) -> None:
    # A long idle interval keeps the idle path out of it: only the gap check can fill the hole.
    worker = worker_for(pg_container, counting, jetstream, read_side_topology,
                        WorkerOptions(idle_interval=30, retry_base=0.001))
    filled_before = PROJECTION_GAP_FILLS.labels("counting")._value.get()
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: worker.status == "live", "the worker to go live")
        await asyncio.to_thread(record_touches, pg_container, 40)
        notifications = pg_container.ingestion.recorder.select_notifications(1, 1000)
        lost = notifications[10].id
        for notification in notifications:
            if notification.id != lost:  # the broker "lost" this one
                subject, body, headers = to_message(read_side_topology, "ingestion",
                                                    notification)
                await jetstream.publish(subject, body, headers=headers)
        heads = store_positions(pg_container)
        await until(lambda: counting.tracked_positions()["ingestion"] == heads["ingestion"],
                    "the ingestion log to be applied")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    ingestion = [p for a, p in counting.applied() if a == "ingestion"]
    assert ingestion == [n.id for n in notifications]
    assert PROJECTION_GAP_FILLS.labels("counting")._value.get() - filled_before == 1


async def test_a_message_of_another_deployment_is_acked_counted_logged_and_never_applied(
        pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology,
        stream: None, counting: CountingProjection, caplog: pytest.LogCaptureFixture) -> None:
    # A long idle interval: our own events below can only arrive through NATS, behind the
    # foreign ones, so they show the foreign ones did not block the consumer.
    worker = worker_for(pg_container, counting, jetstream, read_side_topology,
                        WorkerOptions(idle_interval=30, retry_base=0.001))
    foreign_before = PROJECTION_FOREIGN.labels("counting")._value.get()
    elsewhere = Topology.for_deployment("0ther0ther00")
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: worker.status == "live", "the worker to go live")
        await asyncio.to_thread(record_touches, pg_container, 20)
        head = store_positions(pg_container)["ingestion"]
        sample = pg_container.ingestion.recorder.select_notifications(head, 1)[0]
        # Another store's event, on our own subject, at positions ours has not reached: were
        # it applied, tracking would jump past events this store records next.
        for position, names_itself in ((head + 5, True), (head + 6, False)):
            event = Notification(originator_id=uuid.uuid4(), originator_version=1,
                                 topic=sample.topic, state=sample.state, id=position)
            _, body, headers = to_message(elsewhere, "ingestion", event)
            if not names_itself:
                del headers[DEPLOYMENT]  # as a relay of an earlier version sent it
            await jetstream.publish(read_side_topology.subject_for(sample.topic), body,
                                    headers=headers)
        with caplog.at_level(logging.WARNING, logger="convtrack.worker"):
            for name, app in pg_container.sources.items():
                for notification in app.recorder.select_notifications(1, 1000):
                    subject, body, headers = to_message(read_side_topology, name, notification)
                    await jetstream.publish(subject, body, headers=headers)
            await until(caught_up(pg_container, counting), "our own events to be applied")
            info = await jetstream.consumer_info(read_side_topology.stream,
                                                 read_side_topology.durable_for("counting"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert sorted(counting.applied()) == sorted(store_events(pg_container))
    assert counting.tracked_positions()["ingestion"] == head
    assert PROJECTION_FOREIGN.labels("counting")._value.get() - foreign_before == 2
    assert (info.num_pending, info.num_ack_pending) == (0, 0)  # acked, not left to redeliver
    assert any("another deployment" in r.getMessage() and "0ther0ther00" in r.getMessage()
               for r in caplog.records)


async def test_a_worker_far_behind_catches_up_from_the_store_then_follows_nats(
        pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology,
        stream: None, counting: CountingProjection) -> None:
    relay = Relay(pg_container.sources, pg_container.state, jetstream,
                  read_side_topology, Wakeup(0.05), page_size=200)
    relay_task = asyncio.create_task(relay.run())
    worker = worker_for(pg_container, counting, jetstream, read_side_topology,
                        WorkerOptions(catch_up_threshold=50, page_size=100, idle_interval=0.2,
                                      retry_base=0.001))
    store_before = PROJECTION_EVENTS.labels("counting", "store")._value.get()
    nats_before = PROJECTION_EVENTS.labels("counting", "nats")._value.get()
    try:
        # The worker's durable consumer exists, then a backlog piles up while it is away.
        await worker.consumer.bind()
        await asyncio.to_thread(record_touches, pg_container, 600, per_batch=100)
        await until(lambda: relay.positions == store_positions(pg_container), "the relay")
        assert await worker.consumer.pending() >= 600
        worker_task = asyncio.create_task(worker.run())
        await until(lambda: worker.status == "live", "the worker to go live")
        assert await worker.consumer.pending() == 0  # moved to the tail after the catch-up
        await asyncio.to_thread(record_touches, pg_container, 20, prefix="late")
        await until(caught_up(pg_container, counting), "the projection to catch up")
        worker_task.cancel()
        await asyncio.gather(worker_task, return_exceptions=True)
    finally:
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)

    assert sorted(counting.applied()) == sorted(store_events(pg_container))
    assert PROJECTION_EVENTS.labels("counting", "store")._value.get() - store_before >= 600
    assert PROJECTION_EVENTS.labels("counting", "nats")._value.get() - nats_before >= 20


async def test_a_poison_event_met_in_a_store_catch_up_is_parked_and_the_rest_applied(
        pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology,
        stream: None, database_url: str, pg_schema: str) -> None:
    # The fast catch-up (adapters.read_side.catch_up) stops at the failing page; the worker goes on
    # page by page through the applier, which retries and parks the culprit.
    await asyncio.to_thread(record_touches, pg_container, 400, per_batch=100)
    poison_at = store_positions(pg_container)["ingestion"] // 2
    poisoned = CountingProjection(database_url, pg_schema, name="poisoned", fail_on=lambda e: (
        e.application, e.position) == ("ingestion", poison_at))
    worker = worker_for(pg_container, poisoned, jetstream, read_side_topology,
                        WorkerOptions(catch_up_threshold=50, page_size=100, idle_interval=0.2,
                                      retry_base=0.001))
    task = asyncio.create_task(worker.run())
    try:
        await until(caught_up(pg_container, poisoned), "the worker to move past the poison")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert [(p.application, p.position) for p in poisoned.list_parked()] == [
            ("ingestion", poison_at)]
        expected = [e for e in store_events(pg_container) if e != ("ingestion", poison_at)]
        assert sorted(poisoned.applied()) == sorted(expected)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        poisoned.close()


def test_the_read_side_runs_on_the_in_memory_store_by_polling(nats_url: str) -> None:
    container = build_container(Settings(), "admin")
    models = build_read_models(container)
    token = uuid.uuid4().hex[:10]
    topology = Topology.for_deployment(f"memory{token}")
    runtime = ReadSideRuntime(container.read_side, models.projections, nats_url,
                              ReadSideOptions(topology=topology, worker=FAST)).start()
    try:
        record_touches(container, 50)
        wait_until(lambda: all(p.tracked_positions() == store_positions(container)
                               for p in models.projections), 20, "the in-memory projections")
        wait_until(lambda: {p.status for p in get_read_side_status(
            container.sources, container.state, models.projections).projections} == {"live"},
            10, "live workers")
        status = get_read_side_status(container.sources, container.state, models.projections)
        assert {s.lag for s in status.relay.values()} == {0}
    finally:
        runtime.stop()
        asyncio.run(delete_stream(nats_url, topology.stream))


async def delete_stream(url: str, stream: str) -> None:
    connection = await nats.connect(url)
    await connection.jetstream().delete_stream(stream)
    await connection.close()
