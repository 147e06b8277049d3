"""The relay: the event store's notification logs, in order, into JetStream (ADR: relay).

Per source application it reads a page after its recorded position, publishes every event with
many acks in flight (secret fields nulled, ADR 0022), and records the new position once
JetStream confirmed them. A crash between publishing and recording re-publishes the page on
restart; JetStream drops the copies by `Nats-Msg-Id`, and workers skip anything at or below
their tracked position anyway. While NATS is down the write side is untouched: the relay backs
off and later resumes where it recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from nats.js import JetStreamContext
from nats.js.api import PubAck

from adapters.metrics import (
    RELAY_DUPLICATES,
    RELAY_FAILURES,
    RELAY_LEADER,
    RELAY_POSITION,
    RELAY_PUBLISHED,
)
from adapters.nats.envelope import to_message
from adapters.nats.subjects import Topology
from adapters.postgres.event_log import FastEventSource
from adapters.postgres.listen import Wakeup
from adapters.postgres.read_side_state import ReadSideState
from adapters.postgres.relay_lease import RelayLease
from adapters.read_side.redaction import Redactor

_log = logging.getLogger("convtrack.relay")


class PublishNotConfirmed(RuntimeError):
    """JetStream did not confirm every event of a page (NATS down, slow or refusing)."""


class Relay:
    """Publishes every application's events to JetStream, in order, at least once."""

    def __init__(
        self,
        sources: Mapping[str, Application[Any]],
        state: ReadSideState,
        js: JetStreamContext,
        topology: Topology,
        wakeup: Wakeup,
        *,
        page_size: int = 1000,
        ack_timeout: float = 5.0,
        max_backoff: float = 5.0,
        lease: RelayLease | None = None,
        lease_check: float = 5.0,
    ) -> None:
        self.sources = dict(sources)
        # Pages read as light tuples, not the library's Notification objects (ADR 0014).
        self.logs = {name: FastEventSource(app).recorder for name, app in self.sources.items()}
        # Secret fields go out as null; every other body is the stored bytes (ADR 0022).
        self.redactor = Redactor({name: app.mapper for name, app in self.sources.items()})
        self.state = state
        self.js = js
        self.topology = topology
        self.wakeup = wakeup
        self.page_size = page_size
        self.ack_timeout = ack_timeout
        self.max_backoff = max_backoff
        self.positions: dict[str, int] = {}
        # None: the only relay there can be (the in-memory store, tests driving one relay).
        self.lease = lease
        self.lease_check = lease_check  # how often a leader re-checks, and a standby retries
        self._lease_checked = float("-inf")

    async def run(self) -> None:
        """Relay until cancelled, waking on each NOTIFY and backing off while anything fails."""
        try:
            await self._run()
        finally:
            if self.lease is not None:
                await asyncio.to_thread(self.lease.release)
                RELAY_LEADER.set(0)

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            try:
                if not await self.leading():
                    self.positions = {}  # the leader moves them: read them again on takeover
                    await asyncio.sleep(self.lease_check)
                    continue
                if not self.positions:
                    recorded = await asyncio.to_thread(self.state.relay_positions)
                    self.positions = {name: recorded.get(name, 0) for name in self.sources}
                self.wakeup.clear()
                moved = 0
                for application in self.sources:
                    moved += await self.relay_page(application)
                backoff = 0.0
                if moved == 0:
                    await self.wakeup.wait()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # docs/architecture.md: Errors — never swallowed: logged with where the relay
                # stands.
                backoff = min(self.max_backoff, max(0.1, backoff * 2))
                _log.warning("relay round failed, retrying in %.1f s: %s", backoff, error,
                             extra={"positions": dict(self.positions), "error": repr(error),
                                    "backoff_seconds": backoff})
                await asyncio.sleep(backoff)

    async def leading(self) -> bool:
        """Whether this relay holds the lease (re-checked every `lease_check` seconds)."""
        if self.lease is None:
            return True
        now = asyncio.get_running_loop().time()
        if self.lease.held and now - self._lease_checked < self.lease_check:
            return True
        self._lease_checked = now
        leading = await asyncio.to_thread(self.lease.hold)
        RELAY_LEADER.set(int(leading))
        return leading

    async def relay_page(self, application: str) -> int:
        """Publish the next page of one application's log; the number of events confirmed."""
        try:
            return await self._relay_page(application)
        except Exception:
            RELAY_FAILURES.labels(application).inc()
            raise

    async def _relay_page(self, application: str) -> int:
        start = self.positions.get(application, 0) + 1
        notifications = await self.read(application, start)
        if not notifications:
            return 0
        confirmed = await self.publish(application, notifications)
        if confirmed:
            await self.record(application, notifications[confirmed - 1].id)
        if confirmed < len(notifications):
            raise PublishNotConfirmed(
                f"{application}: {len(notifications) - confirmed} of {len(notifications)} events "
                f"from position {notifications[confirmed].id} not confirmed by JetStream")
        return confirmed

    async def read(self, application: str, start: int) -> Sequence[Notification]:
        """The next page of the log from `start` (inclusive)."""
        return await asyncio.to_thread(self.logs[application].select_notifications, start,
                                       self.page_size)

    async def publish(self, application: str, notifications: Sequence[Notification]) -> int:
        """Publish with every ack in flight at once; how many, from the first, JetStream confirmed."""
        futures: list[asyncio.Future[PubAck]] = []
        try:
            for notification in notifications:
                subject, body, headers = to_message(self.topology, application, notification)
                body = self.redactor.body(application, notification.topic, body)
                # No wait_stall: the client allows twice a page in flight, so the semaphore
                # never blocks, and wait_stall would wrap every call in a task (Python 3.11).
                futures.append(await self.js.publish_async(subject, body, headers=headers))
            if futures:
                await asyncio.wait(futures, timeout=self.ack_timeout)
        finally:
            # publish_async futures have no timeout of their own; an unanswered one would hold
            # a slot of the client's in-flight semaphore forever.
            for future in futures:
                if not future.done():
                    future.cancel()
        confirmed = 0
        duplicates = 0
        for future in futures:
            if future.cancelled() or future.exception() is not None:
                break
            confirmed += 1
            duplicates += bool(future.result().duplicate)
        for future in futures[confirmed:]:
            if not future.cancelled() and future.exception() is not None:
                _log.warning("JetStream refused %s:%d: %s", application,
                             notifications[confirmed].id, future.exception(),
                             extra={"application": application,
                                    "position": notifications[confirmed].id})
                break
        RELAY_PUBLISHED.labels(application).inc(confirmed - duplicates)
        RELAY_DUPLICATES.labels(application).inc(duplicates)
        return confirmed

    async def record(self, application: str, position: int) -> None:
        """Record the confirmed position, so a restart resumes after it."""
        await asyncio.to_thread(self.state.save_relay_position, application, position)
        self.positions[application] = position
        RELAY_POSITION.labels(application).set(position)
