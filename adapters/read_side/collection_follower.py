"""Keeping a process's collection model current from the management log (ADR 0031).

At start the model reads the management application's whole notification log (decoding only
the topics it needs), then follows it: PostgreSQL's NOTIFY at each management commit wakes it
(adapters/postgres/listen.py, as it wakes the relay), and a poll every second covers a lost
LISTEN connection. Pages are read and decoded in a thread and applied on the event loop that
answers `/collect`, so a fire is never decided against a half-applied change. The tag debugger
calls `catch_up` before it judges, so it sees a change its caller just made.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder

from adapters.metrics import COLLECT_MODEL_POSITION, COLLECT_MODEL_STALENESS
from adapters.postgres.listen import Wakeup, listen
from application.collection_model import CollectionModel, ModelOutOfStep

_log = logging.getLogger("convtrack.collector")

PAGE_SIZE = 1000
Page = tuple[int, list[tuple[int, Any]]]  # (last notification id read, wanted events by id)


STOP_TIMEOUT = 3.0  # seconds shutdown waits for the follower's tasks


class CollectionFollower:
    """Loads a `CollectionModel` from the management log, then applies each new event."""

    def __init__(self, management: Application[Any], model: CollectionModel,
                 database_url: str | None, poll_interval: float | None = None) -> None:
        self.management = management
        self.model = model
        recorder = management.recorder
        self._dsn = database_url
        self._channel = (recorder.channel_name if database_url
                         and isinstance(recorder, PostgresApplicationRecorder) else None)
        # Without LISTEN (the in-memory store) the poll is all there is: keep it short.
        self.poll_interval = poll_interval or (1.0 if self._channel else 0.1)
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Load the catalogue, then follow the log in the background."""
        began = time.monotonic()
        try:
            await self.catch_up()
        except Exception as error:
            # The database away at start: fires meet an empty model (counted as unknown tags)
            # until the background loop reaches it.
            _log.warning("collector: cannot load the catalogue yet: %s", error,
                         extra={"error": repr(error)})
        _log.info("collector: catalogue loaded up to position %d in %.2f s",
                  self.model.position, time.monotonic() - began,
                  extra={"position": self.model.position})
        wakeup = Wakeup(self.poll_interval)
        self._tasks.append(asyncio.create_task(self._follow(wakeup)))
        if self._channel and self._dsn:
            self._tasks.append(asyncio.create_task(listen(self._dsn, [self._channel], wakeup)))

    async def stop(self) -> None:
        """Stop following, waiting a bounded time for the tasks to end.

        Bounded because a cancelled LISTEN can sit in psycopg's connection close for as long as
        the server takes to answer (a CI run once waited past pytest's 300 s on it); the task
        is abandoned then, and its connection closed by the server when the process goes.
        """
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT)
            if pending:
                _log.warning("collector: %d follower task(s) did not stop within %.0f s",
                             len(pending), STOP_TIMEOUT)
        self._tasks.clear()

    async def catch_up(self, *, observe: bool = False) -> int:
        """Apply every event recorded after the model's position; the events applied."""
        async with self._lock:
            try:
                return await self._catch_up(self.model, observe)
            except ModelOutOfStep as error:
                _log.error("collector: the catalogue is out of step (%s); reloading it", error)
                fresh = CollectionModel()
                applied = await self._catch_up(fresh, observe=False)
                self.model.adopt(fresh)  # one step on the loop: no fire sees a half-built model
                return applied

    async def _catch_up(self, model: CollectionModel, observe: bool) -> int:
        applied = 0
        while True:
            last, events = await asyncio.to_thread(self._read_page, model.position)
            if last <= model.position:
                COLLECT_MODEL_POSITION.set(model.position)
                return applied
            now = time.time()
            for position, event in events:
                model.apply(event, position)
                recorded = getattr(event, "timestamp", None)
                if observe and isinstance(recorded, datetime):
                    COLLECT_MODEL_STALENESS.observe(max(0.0, now - recorded.timestamp()))
            model.skip_to(last)
            applied += len(events)

    def _read_page(self, after: int) -> Page:
        """One page of the log after `after`, decoding only the topics the model wants."""
        notifications = self.management.recorder.select_notifications(after + 1, PAGE_SIZE)
        if not notifications:
            return after, []
        to_event = self.management.mapper.to_domain_event
        events = [(n.id, to_event(n)) for n in notifications if CollectionModel.wants(n.topic)]
        return notifications[-1].id, events

    async def _follow(self, wakeup: Wakeup) -> None:
        backoff = 0.0
        while True:
            await wakeup.wait()
            wakeup.clear()
            try:
                await self.catch_up(observe=True)
                backoff = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # The database away: the model keeps deciding with what it has (ADR 0031).
                backoff = min(5.0, max(0.5, backoff * 2))
                _log.warning("collector: cannot read the management log, retrying in %.1f s: "
                             "%s", backoff, error, extra={"error": repr(error)})
                await asyncio.sleep(backoff)
