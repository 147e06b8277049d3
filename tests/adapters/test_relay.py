"""The relay against real PostgreSQL and NATS: order, positions, de-duplication, wake-up (issue 3, item 1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from eventsourcing.persistence import Notification
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from adapters.bootstrap import Container
from adapters.metrics import RELAY_DUPLICATES, RELAY_LEADER
from adapters.nats.envelope import APPLICATION, MSG_ID, POSITION
from adapters.nats.stream import ensure_stream
from adapters.nats.subjects import Topology
from adapters.postgres.listen import Wakeup, listen
from adapters.postgres.relay_lease import RelayLease
from adapters.read_side.relay import Relay
from tests.adapters.read_side_support import record_touches, store_positions


class Killed(BaseException):
    """A crash: not an Exception, so the relay's own retry loop does not catch it."""


def relay_for(container: Container, js: JetStreamContext, topology: Topology,
              poll: float = 0.05, cls: type[Relay] = Relay) -> Relay:
    return cls(container.sources, container.state, js, topology, Wakeup(poll),
               page_size=100)


async def relay_until_caught_up(relay: Relay, container: Container, timeout: float = 20) -> None:
    task = asyncio.create_task(relay.run())
    try:
        deadline = time.monotonic() + timeout
        while relay.positions != store_positions(container):
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, f"relay stuck at {relay.positions}"
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def stream_messages(js: JetStreamContext, topology: Topology) -> list[tuple[str, str, int, str]]:
    """(subject, application, position, msg id) of every message in the stream, in order."""
    subscription = await js.pull_subscribe(f"{topology.root}.>", stream=topology.stream,
                                           config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    found = []
    total = (await js.stream_info(topology.stream)).state.messages
    while len(found) < total:
        for message in await subscription.fetch(500, timeout=2):
            headers = message.headers or {}
            found.append((message.subject, headers[APPLICATION], int(headers[POSITION]),
                          headers[MSG_ID]))
            await message.ack()
    await subscription.unsubscribe()
    return found


async def test_every_event_is_published_once_in_log_order_and_the_position_recorded(
        pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology) -> None:
    record_touches(pg_container, 250)
    await ensure_stream(jetstream, read_side_topology)
    await relay_until_caught_up(relay_for(pg_container, jetstream, read_side_topology),
                                pg_container)

    messages = await stream_messages(jetstream, read_side_topology)
    heads = store_positions(pg_container)
    for application in ("management", "ingestion"):
        positions = [p for _, a, p, _ in messages if a == application]
        assert positions == list(range(1, heads[application] + 1))
    assert (f"{read_side_topology.root}.member_timeline.impression_recorded", "ingestion",
            heads["ingestion"], f"{read_side_topology.deployment}:ingestion:{heads['ingestion']}"
            ) in messages
    assert messages[0][0] == f"{read_side_topology.root}.account.created"
    assert pg_container.state.relay_positions() == heads


class DiesBeforeRecording(Relay):
    async def record(self, application: str, position: int) -> None:
        raise Killed("killed after JetStream confirmed, before the position was recorded")


async def test_a_relay_killed_before_recording_republishes_and_jetstream_drops_the_copies(
        pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology) -> None:
    record_touches(pg_container, 150)
    await ensure_stream(jetstream, read_side_topology)
    doomed = relay_for(pg_container, jetstream, read_side_topology, cls=DiesBeforeRecording)
    try:
        await doomed.run()
    except Killed:
        pass
    assert pg_container.state.relay_positions() == {}

    await relay_until_caught_up(relay_for(pg_container, jetstream, read_side_topology),
                                pg_container)

    messages = await stream_messages(jetstream, read_side_topology)
    assert len(messages) == sum(store_positions(pg_container).values())
    assert len({m[3] for m in messages}) == len(messages)


class DiesHalfwayThroughAPage(Relay):
    async def publish(self, application: str, notifications: Sequence[Notification]) -> int:
        await super().publish(application, notifications[: len(notifications) // 2])
        raise Killed("killed with half a page published")


async def test_a_relay_killed_mid_page_resumes_without_a_gap_or_a_copy(
        pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology) -> None:
    record_touches(pg_container, 180)
    await ensure_stream(jetstream, read_side_topology)
    try:
        await relay_for(pg_container, jetstream, read_side_topology,
                        cls=DiesHalfwayThroughAPage).run()
    except Killed:
        pass

    await relay_until_caught_up(relay_for(pg_container, jetstream, read_side_topology),
                                pg_container)

    messages = await stream_messages(jetstream, read_side_topology)
    heads = store_positions(pg_container)
    for application in ("management", "ingestion"):
        assert [p for _, a, p, _ in messages if a == application] == \
            list(range(1, heads[application] + 1))


async def test_the_relay_wakes_on_notify_long_before_its_poll_interval(
        pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology,
        database_url: str) -> None:
    await ensure_stream(jetstream, read_side_topology)
    wakeup = Wakeup(poll_interval=30.0)
    relay = Relay(pg_container.sources, pg_container.state, jetstream,
                  read_side_topology, wakeup)
    channels = [app.recorder.channel_name for app in pg_container.sources.values()]
    listener = asyncio.create_task(listen(database_url, channels, wakeup))
    runner = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)  # LISTEN is established and the first (empty) round is done
        began = time.monotonic()
        await asyncio.to_thread(record_touches, pg_container, 5)
        while relay.positions != store_positions(pg_container):
            assert time.monotonic() - began < 5, "the relay did not wake on NOTIFY"
            await asyncio.sleep(0.01)
        assert time.monotonic() - began < 5
    finally:
        for task in (listener, runner):
            task.cancel()
        await asyncio.gather(listener, runner, return_exceptions=True)


async def test_of_two_relays_on_one_schema_one_publishes_and_the_other_takes_over_when_it_stops(
        pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology,
        database_url: str, pg_schema: str) -> None:
    await ensure_stream(jetstream, read_side_topology)
    relays = [Relay(pg_container.sources, pg_container.state, jetstream,
                    read_side_topology, Wakeup(0.05), page_size=100, lease_check=0.1,
                    lease=RelayLease(database_url, pg_schema)) for _ in range(2)]
    duplicates = RELAY_DUPLICATES.labels("ingestion")._value.get()
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await asyncio.to_thread(record_touches, pg_container, 150)
        await until_relayed(pg_container)
        [leader] = [r for r in relays if r.lease is not None and r.lease.held]
        standby = relays[1 - relays.index(leader)]
        assert standby.positions == {}  # it never published: it waits for the lease

        tasks[relays.index(leader)].cancel()  # the leader stops: its lease goes with it
        await asyncio.to_thread(record_touches, pg_container, 50, prefix="later")
        await until_relayed(pg_container)
        assert standby.lease is not None and standby.lease.held
        assert RELAY_LEADER._value.get() == 1  # what /metrics says of this process
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # Each event published once: the standby took over from the recorded positions.
    assert RELAY_DUPLICATES.labels("ingestion")._value.get() == duplicates
    assert len(await stream_messages(jetstream, read_side_topology)) == \
        sum(store_positions(pg_container).values())


async def until_relayed(container: Container, timeout: float = 20) -> None:
    state = container.state
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(state.relay_positions) != store_positions(container):
        assert time.monotonic() < deadline, "the events were not relayed"
        await asyncio.sleep(0.05)
