"""A projection worker: JetStream at the tail, the event store for gaps and catch-up (issue 3, item 2).

The worker fetches batches from its projection's durable consumer, puts them in log order per
source, fills any hole from the store, applies the batch (read model and tracking in one
transaction) and only then acks. A crash before the ack redelivers what was applied, and the
projection skips it by its tracked position: exactly-once effect over at-least-once delivery
(ADR: exactly-once). Far behind, it reads the store in pages instead, which is several times
faster than one message per event, and rejoins NATS at the tail (ADR: granularity). A message
another deployment published is acked, counted and never applied (ADR 0023).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from adapters.metrics import (
    PROJECTION_EVENTS,
    PROJECTION_FOREIGN,
    PROJECTION_GAP_FILLS,
    TRANSPORT_LATENCY,
)
from adapters.nats.consumer import ProjectionConsumer
from adapters.nats.envelope import UndecodableMessage, deployment_of, position_of
from adapters.nats.subjects import Topology
from adapters.postgres.event_log import fast_sources
from adapters.postgres.read_side_state import ReadSideState
from adapters.read_side.apply import TRANSIENT, Applier
from adapters.read_side.catch_up import catch_up
from adapters.read_side.decoding import from_message, read_keys, unknown_keys
from adapters.read_side.ordering import fresh_by_application, holes, in_log_order
from adapters.read_side.store_reader import StoreReader
from projections.base import Envelope, Projection


class CatchUpStopped(Exception):
    """Raised in a store catch-up's thread when its worker is being stopped."""

_log = logging.getLogger("convtrack.worker")


@dataclass(frozen=True)
class WorkerOptions:
    """Tuning of a projection worker; the defaults are the production ones."""

    batch_size: int = 500
    fetch_timeout: float = 1.0  # a waiting pull: returns at the first message
    idle_interval: float = 1.0  # how often a quiet worker looks in the store for lost messages
    catch_up_threshold: int = 5000  # behind by more: read the store, not NATS
    page_size: int = 1000
    max_attempts: int = 5  # then the event is parked
    retry_base: float = 0.05
    ack_wait: float = 30.0
    check_interval: float = 5.0  # how often a live worker asks whether it fell far behind
    heartbeat_interval: float = 2.0
    max_backoff: float = 5.0


class ProjectionWorker:
    """Keeps one projection current from JetStream and the event store."""

    def __init__(self, projection: Projection, reader: StoreReader,
                 js: JetStreamContext, topology: Topology,
                 state: ReadSideState, options: WorkerOptions | None = None) -> None:
        self.projection = projection
        self.name = projection.name
        self.reader = reader
        self.decoders = reader.decoders  # the same decoding as the store's (ADR 0007)
        self.state = state
        self.deployment = topology.deployment  # only its messages are ever applied
        self.options = options or WorkerOptions()
        self.consumer = ProjectionConsumer(js, topology, projection.name,
                                           ack_wait=self.options.ack_wait,
                                           max_ack_pending=self.options.batch_size * 4)
        self.applier = Applier(projection, max_attempts=self.options.max_attempts,
                               retry_base=self.options.retry_base,
                               max_backoff=self.options.max_backoff)
        self.fast_sources = fast_sources(reader.sources)  # management first, as catch_up wants
        self.status = "catching_up"  # until it follows the tail
        self._status_changed = asyncio.Event()

    async def run(self) -> None:
        """Work until cancelled; any failure is logged and retried after a bounded backoff."""
        heartbeat = asyncio.create_task(self._heartbeat())
        backoff = 0.0
        try:
            while True:
                try:
                    await self.run_once()
                    backoff = 0.0
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    backoff = min(self.options.max_backoff, max(0.2, backoff * 2))
                    _log.error("worker %s failed, restarting in %.1f s: %s", self.name, backoff,
                               error, exc_info=True,
                               extra={"projection": self.name, "error": repr(error)})
                    await asyncio.sleep(backoff)
        finally:
            heartbeat.cancel()
            self.status = "stopped"
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.to_thread(
                    self.state.report_worker, self.name, "stopped"), 2.0)

    async def run_once(self) -> None:
        """Catch up if far behind, bind to the tail, then follow it until far behind again."""
        await self.catch_up()
        subscription, at_tail = await self.consumer.bind()
        try:
            if not at_tail and await self.consumer.pending() > self.options.catch_up_threshold:
                # Its backlog was just applied from the store: replaying it would only ack.
                await subscription.unsubscribe()
                await self.consumer.fast_forward()
                subscription, at_tail = (await self.consumer.bind())[0], True
            if at_tail:
                await self.sync_from_store()  # what was recorded before the consumer's start
            self._set_status("live")
            await self.follow(subscription)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def follow(self, subscription: JetStreamContext.PullSubscription) -> None:
        """Fetch and handle batches; return when the store is far ahead (time to catch up)."""
        idle_mark: dict[str, int] | None = None
        next_idle = time.monotonic() + self.options.idle_interval
        next_check = time.monotonic() + self.options.check_interval
        while True:
            try:
                messages = await self.next_batch(subscription)
            except TimeoutError:  # nats-py raises its own subclass, or asyncio's, or both
                if time.monotonic() < next_idle:
                    continue
                next_idle = time.monotonic() + self.options.idle_interval
                # Quiet (or NATS down): apply from the store what was recorded an idle interval
                # ago and still not delivered, e.g. a last message the broker lost.
                if idle_mark is not None:
                    await self.sync_from_store(until=idle_mark)
                idle_mark = await asyncio.to_thread(self.reader.max_positions)
                continue
            await self.handle(messages)
            if time.monotonic() > next_check:
                next_check = time.monotonic() + self.options.check_interval
                if await self.far_behind():
                    return

    async def next_batch(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        """Wait for one message, then take what else is there at once, up to a batch."""
        # nats-py's fetch(n), once a waiting pull got its first message, waits until n arrive
        # or the timeout passes: on a trickling stream that adds the whole timeout to every
        # event's latency. A waiting fetch(1), then a fetch that does not wait, adds nothing.
        messages = await subscription.fetch(1, timeout=self.options.fetch_timeout)
        try:
            messages += await subscription.fetch(self.options.batch_size - 1, timeout=0.002)
        except TimeoutError:
            pass  # nothing else yet; anything arriving late waits in the subscription's queue
        return messages

    async def handle(self, messages: Sequence[Msg]) -> None:
        """Apply one fetched batch (with gap fills) and ack it."""
        messages = await self.drop_foreign(messages)
        if not messages:
            return
        arrivals: list[Envelope] = []
        transport = TRANSPORT_LATENCY.labels(self.name)
        unknown = unknown_keys(self.decoders, [(m.headers, m.data) for m in messages])
        if unknown:  # new members' keys, one query per source (ADR 0027)
            await asyncio.to_thread(read_keys, unknown)
        for message in messages:
            try:
                envelope = from_message(self.decoders, message.headers, message.data)
                arrivals.append(envelope)
                recorded = getattr(envelope.event, "timestamp", None)
                if isinstance(recorded, datetime):
                    transport.observe(max(0.0, (message.metadata.timestamp - recorded)
                                          .total_seconds()))
            except UndecodableMessage as error:
                _log.error("worker %s: message %s is not a convtrack event, dropped: %s",
                           self.name, message.subject, error,
                           extra={"projection": self.name, "subject": message.subject})
        tracked = await asyncio.to_thread(self.projection.tracked_positions)
        fresh = fresh_by_application(arrivals, tracked)
        missing = holes(fresh, tracked)
        if sum(last - first + 1 for _, first, last in missing) > self.options.catch_up_threshold:
            await self.catch_up(force=True)
            self._set_status("live")
            tracked = await asyncio.to_thread(self.projection.tracked_positions)
            fresh = fresh_by_application(arrivals, tracked)
            missing = holes(fresh, tracked)
        fills = await self._fill(missing)
        await self.applier.apply(in_log_order(arrivals, fresh, fills), "nats")
        await self.ack(messages)

    async def drop_foreign(self, messages: Sequence[Msg]) -> list[Msg]:
        """Ack, count and log the messages of other deployments; the rest, ours, in order."""
        ours: list[Msg] = []
        foreign: list[Msg] = []
        for message in messages:
            mine = deployment_of(message.headers) == self.deployment
            (ours if mine else foreign).append(message)
        if not foreign:
            return ours
        # Acked at once, before our batch applies: never redelivered, so never counted twice,
        # and never in the way of our own messages. Applying one would put another store's
        # event at our positions, which tracking would then skip in ours (ADR 0023).
        PROJECTION_FOREIGN.labels(self.name).inc(len(foreign))
        first = foreign[0]
        try:
            where = "%s:%d" % position_of(first.headers)
        except UndecodableMessage:
            where = "no position"
        _log.warning("worker %s (deployment %s): ignored %d message(s) of another deployment, "
                     "first on %s from deployment %s at %s", self.name, self.deployment,
                     len(foreign), first.subject, deployment_of(first.headers), where,
                     extra={"projection": self.name, "foreign": len(foreign),
                            "subject": first.subject, "deployment": self.deployment,
                            "foreign_deployment": deployment_of(first.headers)})
        await self.ack(foreign)
        return ours

    async def ack(self, messages: Sequence[Msg]) -> None:
        """Acknowledge, after the batch committed; a lost ack means a harmless redelivery."""
        try:
            for message in messages:
                await message.ack()
        except Exception as error:
            _log.warning("worker %s: ack failed, the batch will be redelivered and skipped: %s",
                         self.name, error, extra={"projection": self.name, "error": repr(error)})

    async def catch_up(self, *, force: bool = False) -> None:
        """While the store is more than the threshold ahead, apply it page by page."""
        while force or await self.far_behind():
            force = False
            self._set_status("catching_up")
            began, applied = time.monotonic(), await self.sync_from_store()
            seconds = time.monotonic() - began
            _log.info("worker %s caught up %d events from the store in %.1f s", self.name,
                      applied, seconds, extra={"projection": self.name, "events": applied,
                                               "seconds": seconds})

    async def far_behind(self) -> bool:
        """Whether any source's log is more than the threshold beyond the tracked position."""
        tracked = await asyncio.to_thread(self.projection.tracked_positions)
        heads = await asyncio.to_thread(self.reader.max_positions)
        return any(head - tracked.get(app, 0) > self.options.catch_up_threshold
                   for app, head in heads.items())

    async def sync_from_store(self, until: Mapping[str, int] | None = None) -> int:
        """Apply, from the store, every event after the tracked position (up to `until`)."""
        tracked = await asyncio.to_thread(self.projection.tracked_positions)
        heads = dict(until) if until is not None else await asyncio.to_thread(
            self.reader.max_positions)
        behind = sum(max(0, head - tracked.get(app, 0)) for app, head in heads.items())
        applied = 0
        if behind > self.options.page_size:
            # A backlog: the store catch-up's fast path (ADR 0014). Should it fail, what is
            # left goes page by page below, where the applier retries and parks.
            try:
                applied = await self._fast_catch_up(heads)
            except TRANSIENT:
                raise  # the store is away: run() backs off and tries again
            except Exception as error:
                _log.warning("worker %s: store catch-up failed, going on page by page: %s",
                             self.name, error, extra={"projection": self.name,
                                                      "error": repr(error)})
            tracked = await asyncio.to_thread(self.projection.tracked_positions)
        # Management first: the catalogue (actions, campaigns) the facts refer to.
        for app in self.reader.sources:
            start, stop = tracked.get(app, 0) + 1, heads.get(app, 0)
            if start > stop:
                continue
            async for page in self.reader.pages(app, start, stop, self.options.page_size):
                await self.applier.apply(page, "store")
                applied += len(page)
        return applied

    async def _fast_catch_up(self, heads: Mapping[str, int]) -> int:
        """adapters.read_side.catch_up in a thread, up to `heads`; stops within a page if
        cancelled."""
        stopping = threading.Event()
        events = PROJECTION_EVENTS.labels(self.name, "store")

        def progress(count: int) -> None:
            events.inc(count)
            if stopping.is_set():
                raise CatchUpStopped  # a thread cannot be cancelled: it is asked to stop

        try:
            return await asyncio.to_thread(catch_up, self.projection, self.fast_sources,
                                           self.options.page_size, progress, until=heads)
        except asyncio.CancelledError:
            stopping.set()
            raise

    async def _fill(self, missing: Sequence[tuple[str, int, int]]) -> dict[str, list[Envelope]]:
        fills: dict[str, list[Envelope]] = {}
        for app, first, last in missing:
            found = await asyncio.to_thread(self.reader.read_range, app, first, last,
                                            self.options.page_size)
            fills.setdefault(app, []).extend(found)
            if not found:
                # Positions a rolled-back transaction took from the sequence: nothing to fill.
                continue
            PROJECTION_GAP_FILLS.labels(self.name).inc(len(found))
            _log.warning("worker %s: %s positions %d-%d not delivered by NATS, %d read from the "
                         "store", self.name, app, first, last, len(found),
                         extra={"projection": self.name, "application": app, "first": first,
                                "last": last, "found": len(found)})
        return fills

    def _set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self._status_changed.set()  # report it now, not at the next heartbeat
            _log.info("worker %s is %s", self.name, status,
                      extra={"projection": self.name, "status": status})

    async def _heartbeat(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.state.report_worker, self.name, self.status)
            except Exception as error:
                _log.warning("worker %s: heartbeat failed: %s", self.name, error,
                             extra={"projection": self.name, "error": repr(error)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_changed.wait(),
                                       self.options.heartbeat_interval)
            self._status_changed.clear()
