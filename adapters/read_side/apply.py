"""Applying batches to a projection: retry event by event, park what keeps failing (ADR: exactly-once).

A batch is one transaction (events and tracking), so a failed batch changed nothing. It is then
retried one event at a time so the culprit is found and the others apply; an event that fails
`max_attempts` times is parked with its error and the stream goes on. Infrastructure failures
(the database unreachable) are not the event's fault: they are retried without counting, so an
outage never parks healthy events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import psycopg
import psycopg_pool
from eventsourcing import persistence

from adapters.metrics import (
    PROJECTION_EVENTS,
    PROJECTION_FAILURES,
    PROJECTION_LATENCY,
    PROJECTION_PARKED,
)
from adapters.read_side.decoding import Undecoded
from projections.base import Envelope, Projection

_log = logging.getLogger("convtrack.worker")

TRANSIENT: tuple[type[BaseException], ...] = (
    psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout,
    persistence.OperationalError, persistence.InterfaceError, ConnectionError,
)


class Applier:
    """Drives one projection's `process_batch` and `park` with the retry policy."""

    def __init__(self, projection: Projection, *, max_attempts: int = 5, retry_base: float = 0.05,
                 max_backoff: float = 5.0) -> None:
        self.projection = projection
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.max_backoff = max_backoff

    async def apply(self, batch: Sequence[Envelope], path: str) -> None:
        """Apply a batch (log order per application); returns once each event is applied or parked."""
        segment: list[Envelope] = []
        for envelope in batch:
            if isinstance(envelope.event, Undecoded):
                await self._apply_segment(segment, path)
                segment = []
                await self._apply_one(envelope, path)
            else:
                segment.append(envelope)
        await self._apply_segment(segment, path)

    async def _apply_segment(self, batch: Sequence[Envelope], path: str) -> None:
        if not batch:
            return
        try:
            await self._transient_retry(lambda: self.projection.process_batch(batch))
            self._applied(batch, path)
            return
        except Exception as error:
            PROJECTION_FAILURES.labels(self.projection.name).inc()
            _log.warning("batch of %d failed from %s:%d, retrying event by event: %s",
                         len(batch), batch[0].application, batch[0].position, error,
                         extra=self._where(batch[0], error))
        for envelope in batch:
            await self._apply_one(envelope, path)

    async def _apply_one(self, envelope: Envelope, path: str) -> None:
        if isinstance(envelope.event, Undecoded):
            # An event nobody can decode can never apply: parked at once, not retried.
            await self._park(envelope, f"undecodable {envelope.event.topic}: {envelope.event.error}", 1)
            return
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._transient_retry(lambda: self.projection.process_batch([envelope]))
                self._applied([envelope], path)
                return
            except Exception as error:
                PROJECTION_FAILURES.labels(self.projection.name).inc()
                _log.error("%s failed on %s:%d (attempt %d of %d): %s", self.projection.name,
                           envelope.application, envelope.position, attempt, self.max_attempts,
                           error, extra=self._where(envelope, error) | {"attempt": attempt})
                if attempt == self.max_attempts:
                    await self._park(envelope, f"{type(error).__name__}: {error}", attempt)
                    return
                await asyncio.sleep(min(self.max_backoff, self.retry_base * 2 ** (attempt - 1)))

    async def _park(self, envelope: Envelope, error: str, attempts: int) -> None:
        await self._transient_retry(lambda: self.projection.park(envelope, error, attempts))
        PROJECTION_PARKED.labels(self.projection.name).inc()
        _log.error("%s parked %s:%d (%s) after %d attempts: %s", self.projection.name,
                   envelope.application, envelope.position, envelope.topic, attempts, error,
                   extra={"projection": self.projection.name, "application": envelope.application,
                          "position": envelope.position, "topic": envelope.topic,
                          "attempts": attempts, "error": error})

    async def _transient_retry(self, call: Callable[[], object]) -> None:
        """Run the call in a thread; retry while the failure is the infrastructure's."""
        backoff = 0.0
        while True:
            try:
                await asyncio.to_thread(call)
                return
            except TRANSIENT as error:
                backoff = min(self.max_backoff, max(0.1, backoff * 2))
                _log.warning("%s: store unavailable, retrying in %.1f s: %s",
                             self.projection.name, backoff, error,
                             extra={"projection": self.projection.name, "error": repr(error)})
                await asyncio.sleep(backoff)

    def _applied(self, batch: Sequence[Envelope], path: str) -> None:
        name = self.projection.name
        PROJECTION_EVENTS.labels(name, path).inc(len(batch))
        if path != "nats":
            return  # catch-up latency measures the backlog, not the live path
        now = datetime.now(UTC)
        histogram = PROJECTION_LATENCY.labels(name)
        for envelope in batch:
            recorded = getattr(envelope.event, "timestamp", None)
            if isinstance(recorded, datetime):
                histogram.observe(max(0.0, (now - recorded).total_seconds()))

    def _where(self, envelope: Envelope, error: BaseException) -> dict[str, object]:
        return {"projection": self.projection.name, "application": envelope.application,
                "position": envelope.position, "topic": envelope.topic, "error": repr(error)}
