"""Reading the event store directly: to fill gaps NATS left, and to catch up from far behind.

The store is the truth and NATS is transport (docs/architecture.md: the read side), so whatever
a worker misses on the wire it reads here, decoded with the same decoders (member facts with
msgspec, the rest with the source's mapper) into the same Envelopes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from eventsourcing.application import Application

from adapters.read_side.decoding import decoders_of, from_notification
from projections.base import Envelope


class StoreReader:
    """Pages of decoded envelopes from each source application's notification log."""

    def __init__(self, sources: Mapping[str, Application[Any]]) -> None:
        self.sources = dict(sources)
        self.decoders = decoders_of({name: app.mapper for name, app in self.sources.items()})

    def max_positions(self) -> dict[str, int]:
        """The highest notification id per source (0 for an empty log)."""
        return heads_of(self.sources)

    def read(self, application: str, start: int, limit: int, stop: int | None = None
             ) -> list[Envelope]:
        """Up to `limit` envelopes from position `start` to `stop`, both inclusive."""
        notifications = self.sources[application].recorder.select_notifications(start, limit, stop)
        decoder = self.decoders[application]
        decoder.prefetch(notifications)
        return [from_notification(application, decoder, n) for n in notifications]

    def read_range(self, application: str, start: int, stop: int, page_size: int
                   ) -> list[Envelope]:
        """Every envelope from `start` to `stop` inclusive (a gap), in pages."""
        found: list[Envelope] = []
        while start <= stop:
            page = self.read(application, start, page_size, stop)
            if not page:
                break  # the rest of the range is a hole in the store's own sequence
            found.extend(page)
            start = page[-1].position + 1
        return found

    async def pages(self, application: str, start: int, stop: int, page_size: int
                    ) -> AsyncIterator[list[Envelope]]:
        """Pages from `start` to `stop`, reading the next page while the caller applies one."""
        # Prefetching overlaps the store read with the projection's write (issue 3: catch-up
        # throughput); one page ahead bounds memory.
        ahead = asyncio.ensure_future(
            asyncio.to_thread(self.read, application, start, page_size, stop))
        try:
            while True:
                page = await ahead
                if not page:
                    return
                start = page[-1].position + 1
                if start > stop:
                    yield page
                    return
                ahead = asyncio.ensure_future(
                    asyncio.to_thread(self.read, application, start, page_size, stop))
                yield page
        finally:
            if not ahead.done():
                ahead.cancel()


def heads_of(sources: Mapping[str, Application[Any]]) -> dict[str, int]:
    """The highest notification id of each source's log (0 for an empty log)."""
    return {name: app.recorder.max_notification_id() or 0 for name, app in sources.items()}
