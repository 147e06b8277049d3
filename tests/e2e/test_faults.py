"""Faults against real PostgreSQL and NATS: nothing lost, nothing counted twice (issue 3, item 6).

Every test checks the same invariant at the end: the counting projection applied each event of
the store exactly once (its applied table has no unique key, so a second application would
show). Crashes are real where they can be: processes killed, a nats-server stopped.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import nats
import pytest
from eventsourcing.persistence import Notification
from nats.js.api import ConsumerInfo

from adapters.bootstrap import Container
from adapters.metrics import PROJECTION_GAP_FILLS
from adapters.nats.envelope import to_message
from adapters.nats.subjects import Topology
from adapters.postgres.listen import Wakeup
from adapters.read_side.relay import Relay
from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime
from adapters.read_side.status import get_read_side_status
from adapters.runtime.embedded_nats import EmbeddedNats
from tests.adapters.read_side_support import (
    CountingProjection,
    ensure_campaign,
    record_touches,
    store_events,
    store_positions,
    wait_until,
)
from tests.e2e.fault_process import WORKER_OPTIONS
from tests.e2e.live_stack import expected_msg_ids, stream_msg_ids

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def counting(database_url: str, pg_schema: str) -> Iterator[CountingProjection]:
    projection = CountingProjection(database_url, pg_schema)
    yield projection
    projection.close()


@pytest.fixture(autouse=True)
def drop_stream(nats_url: str, read_side_topology: Topology) -> Iterator[None]:
    yield
    asyncio.run(_drop_stream(nats_url, read_side_topology))


async def _drop_stream(url: str, topology: Topology) -> None:
    connection = await nats.connect(url)
    try:
        await connection.jetstream().delete_stream(topology.stream)
    except Exception:
        pass
    await connection.close()


def runtime(container: Container, projections: Sequence[CountingProjection], url: str, *,
            relay: bool = True, workers: bool = True) -> ReadSideRuntime:
    return ReadSideRuntime(container.read_side, projections, url, ReadSideOptions(
        relay=relay, workers=workers, worker=WORKER_OPTIONS, relay_page_size=100)).start()


def exactly_once(container: Container, projection: CountingProjection) -> None:
    applied = projection.applied()
    assert len(applied) == len(set(applied)), "an event was applied twice"
    assert sorted(applied) == sorted(store_events(container))


def caught_up(container: Container, projection: CountingProjection) -> bool:
    return projection.tracked_positions() == store_positions(container)


def spawn(role: str, database_url: str, schema: str, url: str, *flags: str
          ) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.e2e.fault_process", role, database_url,
                             schema, url, *flags], cwd=ROOT)


def consumer_info(url: str, topology: Topology, projection: str) -> ConsumerInfo:
    async def ask() -> ConsumerInfo:
        connection = await nats.connect(url)
        try:
            return await connection.jetstream().consumer_info(
                topology.stream, topology.durable_for(projection))
        finally:
            await connection.close()
    return asyncio.run(ask())


@pytest.mark.slow
def test_a_worker_killed_between_its_write_and_its_ack_counts_nothing_twice(
        pg_container: Container, database_url: str, pg_schema: str, nats_url: str,
        read_side_topology: Topology, counting: CountingProjection) -> None:
    ensure_campaign(pg_container)  # management events only: the doomed worker applies them
    relay = runtime(pg_container, [], nats_url, workers=False)
    doomed = survivor = None
    try:
        doomed = spawn("worker", database_url, pg_schema, nats_url, "--die-after-commit")
        wait_until(lambda: pg_container.state.list_workers().get("counting")
                   is not None and pg_container.state.list_workers()["counting"]
                   .status == "live", 30, "the doomed worker to go live")
        record_touches(pg_container, 200, per_batch=20)
        assert doomed.wait(timeout=30) == 9
        assert counting.tracked_positions()["ingestion"] > 0  # its batch committed...
        assert consumer_info(nats_url, read_side_topology, "counting").num_ack_pending
        # ...and was never acked: the restarted worker gets it again, and must skip it.
        survivor = spawn("worker", database_url, pg_schema, nats_url)
        wait_until(lambda: caught_up(pg_container, counting), 30, "the survivor to catch up")
        wait_until(lambda: consumer_info(nats_url, read_side_topology, "counting")
                   .num_ack_pending == 0, 30, "the redelivered batch to be acked")
    finally:
        for process in (doomed, survivor):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(10)
        relay.stop()
    exactly_once(pg_container, counting)


@pytest.mark.slow
def test_nats_stopped_during_writes_then_restarted_loses_nothing(
        pg_container: Container, tmp_path: Path, counting: CountingProjection) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    url = server.start()
    port = int(url.rsplit(":", 1)[1])
    read_side = runtime(pg_container, [counting], url)
    try:
        record_touches(pg_container, 100)
        wait_until(lambda: caught_up(pg_container, counting), 20, "the first events")
        server.stop()
        record_touches(pg_container, 300, prefix="while-down")  # the write side accepts
        time.sleep(1.5)  # the relay is backing off
        server = EmbeddedNats(tmp_path / "nats", port=port)
        server.start()
        topology = read_side.topology
        wait_until(lambda: pg_container.state.relay_positions()
                   == store_positions(pg_container), 30, "the relay to publish the backlog")
        wait_until(lambda: caught_up(pg_container, counting), 30, "the projection")
        assert sorted(stream_msg_ids(url, topology)) == expected_msg_ids(pg_container)
    finally:
        read_side.stop()
        server.stop()
    exactly_once(pg_container, counting)


def test_the_same_message_delivered_twice_changes_nothing(
        pg_container: Container, nats_url: str, read_side_topology: Topology,
        counting: CountingProjection) -> None:
    read_side = runtime(pg_container, [counting], nats_url)
    try:
        record_touches(pg_container, 120)
        wait_until(lambda: caught_up(pg_container, counting), 20, "the projection")
        # Every event again, with new message ids: as if re-published after the duplicate
        # window, so JetStream cannot drop the copies and the worker must.
        asyncio.run(republish(pg_container, nats_url, read_side_topology))
        wait_until(lambda: (lambda info: info.num_pending == 0 and info.num_ack_pending == 0)(
            consumer_info(nats_url, read_side_topology, "counting")), 20, "the copies")
        assert consumer_info(nats_url, read_side_topology, "counting").delivered.stream_seq \
            >= 2 * len(store_events(pg_container))
    finally:
        read_side.stop()
    exactly_once(pg_container, counting)


async def republish(container: Container, url: str, topology: Topology) -> None:
    connection = await nats.connect(url)
    js = connection.jetstream()
    for name, app in container.sources.items():
        for notification in app.recorder.select_notifications(1, 10_000):
            subject, body, headers = to_message(topology, name, notification)
            headers["Nats-Msg-Id"] += "#again"
            await js.publish(subject, body, headers=headers)
    await connection.close()


@pytest.mark.slow
def test_a_relay_killed_mid_batch_resumes_without_a_gap_or_a_duplicate_effect(
        pg_container: Container, database_url: str, pg_schema: str, nats_url: str,
        read_side_topology: Topology, counting: CountingProjection) -> None:
    workers = runtime(pg_container, [counting], nats_url, relay=False)
    try:
        record_touches(pg_container, 8000, per_batch=1000)
        heads = store_positions(pg_container)
        doomed = spawn("relay", database_url, pg_schema, nats_url)
        state = pg_container.state
        wait_until(lambda: state.relay_positions().get("ingestion", 0) > 0, 30, "publishing",
                   interval=0.002)
        doomed.kill()  # SIGKILL, wherever it was
        doomed.wait(10)
        assert state.relay_positions()["ingestion"] < heads["ingestion"], "killed too late"
        relay = runtime(pg_container, [], nats_url, workers=False)
        try:
            wait_until(lambda: state.relay_positions() == store_positions(pg_container), 60,
                       "the relay to resume and finish")
            wait_until(lambda: caught_up(pg_container, counting), 60, "the projection")
        finally:
            relay.stop()
        assert sorted(stream_msg_ids(nats_url, read_side_topology)) == \
            expected_msg_ids(pg_container)
    finally:
        workers.stop()
    exactly_once(pg_container, counting)


class LossyBroker(Relay):
    """Publishes all but the chosen positions and records them anyway: the broker lost them."""

    lose: set[tuple[str, int]] = set()

    async def publish(self, application: str, notifications: Sequence[Notification]) -> int:
        kept = [n for n in notifications if (application, n.id) not in self.lose]
        await super().publish(application, kept)
        return len(notifications)


async def test_messages_lost_by_nats_in_the_middle_and_at_the_tail_are_read_from_the_store(
        pg_container: Container, nats_url: str, read_side_topology: Topology,
        counting: CountingProjection, jetstream: nats.js.JetStreamContext) -> None:
    from adapters.nats.stream import ensure_stream
    from adapters.read_side.store_reader import StoreReader
    from adapters.read_side.worker import ProjectionWorker

    await ensure_stream(jetstream, read_side_topology)
    await asyncio.to_thread(record_touches, pg_container, 30)
    relay = LossyBroker(pg_container.sources, pg_container.state, jetstream,
                        read_side_topology, Wakeup(0.05))
    worker = ProjectionWorker(counting, StoreReader(pg_container.sources), jetstream,
                              read_side_topology, pg_container.state, WORKER_OPTIONS)
    filled = PROJECTION_GAP_FILLS.labels("counting")._value.get()
    worker_task = asyncio.create_task(worker.run())
    relay_task = None
    try:
        deadline = time.monotonic() + 20
        while worker.status != "live":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        # Recorded while the worker is live, so only NATS (and the gap checks) bring them.
        await asyncio.to_thread(record_touches, pg_container, 30, prefix="live")
        head = store_positions(pg_container)["ingestion"]
        LossyBroker.lose = {("ingestion", head - 10), ("ingestion", head)}
        relay_task = asyncio.create_task(relay.run())
        while not caught_up(pg_container, counting):
            assert time.monotonic() < deadline + 20, "the lost messages were never applied"
            await asyncio.sleep(0.05)
    finally:
        for task in (worker_task, relay_task):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (worker_task, relay_task) if t is not None),
                             return_exceptions=True)
    exactly_once(pg_container, counting)
    assert PROJECTION_GAP_FILLS.labels("counting")._value.get() - filled >= 1


def test_a_poison_event_is_parked_after_five_attempts_and_later_events_still_apply(
        pg_container: Container, database_url: str, pg_schema: str, nats_url: str) -> None:
    poison = CountingProjection(database_url, pg_schema, name="poisoned",
                                fail_on=lambda e: (e.application, e.position) == ("ingestion", 5))
    read_side = runtime(pg_container, [poison], nats_url)
    try:
        record_touches(pg_container, 40)
        wait_until(lambda: caught_up(pg_container, poison), 20, "the projection to move past")
        parked = poison.list_parked()
        assert [(p.application, p.position, p.attempts) for p in parked] == [
            ("ingestion", 5, 5)]
        assert "poison ingestion:5" in parked[0].error
        applied = poison.applied()
        assert ("ingestion", 5) not in applied and ("ingestion", 6) in applied
        assert len(applied) == len(store_events(pg_container)) - 1
        status = get_read_side_status(pg_container.sources, pg_container.state,
                                      [poison]).projections[0]
        assert (status.parked, status.lag) == (1, 0)
    finally:
        read_side.stop()
        poison.close()
