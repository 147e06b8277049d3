"""Waking the relay the moment events are recorded: PostgreSQL LISTEN, with a poll fallback.

The eventsourcing PostgreSQL recorder NOTIFYs a channel named after its events table in every
inserting transaction, delivered at commit (eventsourcing.postgres, `channel_name`). Channel
names are not schema-qualified, so another deployment in another schema of the same database
can wake the relay for nothing: harmless, it finds no new rows and sleeps again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import psycopg
from psycopg.sql import SQL, Identifier

_log = logging.getLogger("convtrack.relay.listen")


class Wakeup:
    """An event set by NOTIFY; waiting on it also returns after the poll interval."""

    def __init__(self, poll_interval: float) -> None:
        self.poll_interval = poll_interval
        self._event = asyncio.Event()

    def set(self) -> None:
        """Wake whoever waits."""
        self._event.set()

    def clear(self) -> None:
        """Forget earlier wake-ups, before looking for new rows."""
        self._event.clear()

    async def wait(self) -> None:
        """Return when woken, or after the poll interval, whichever is first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), self.poll_interval)


async def listen(dsn: str, channels: Sequence[str], wakeup: Wakeup, *,
                 max_backoff: float = 5.0) -> None:
    """LISTEN on the channels until cancelled, reconnecting with backoff; the poll covers gaps."""
    backoff = 0.0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                for channel in channels:
                    await conn.execute(SQL("LISTEN {}").format(Identifier(channel)))
                backoff = 0.0
                # Whatever was recorded while we were not listening is found by this wake-up.
                wakeup.set()
                async for _ in conn.notifies():
                    wakeup.set()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            backoff = min(max_backoff, max(0.2, backoff * 2))
            _log.warning("LISTEN connection lost, polling meanwhile; reconnecting in %.1f s: %s",
                         backoff, error, extra={"channels": list(channels), "error": repr(error)})
            await asyncio.sleep(backoff)
