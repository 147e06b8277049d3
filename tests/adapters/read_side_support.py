"""Test helpers for the read-side transport: a counting projection on PostgreSQL, and waiting.

The projection records every (application, position) it applies in a table without a unique
key, so applying anything twice shows up as a duplicate row, and it keeps its tracking in the
same transaction, exactly as real projections do (projections/base.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import sql
from psycopg_pool import ConnectionPool

from adapters.bootstrap import Container
from application.access import Caller
from application.facts import TouchIn
from projections.base import SOURCES, Envelope, ParkedEvent


class CountingProjection:
    """Counts applied events per source; `fail_on` makes chosen events raise (poison)."""

    version = 1

    def __init__(self, database_url: str, schema: str, name: str = "counting",
                 fail_on: Callable[[Envelope], bool] | None = None) -> None:
        self.name = name
        self.fail_on = fail_on
        self.pool = ConnectionPool(database_url, min_size=1, max_size=4, open=True)
        self._applied = sql.Identifier(schema, f"{name}_applied")
        self._tracking = sql.Identifier(schema, f"{name}_tracking")
        self._parked = sql.Identifier(schema, f"{name}_parked")
        with self.pool.connection() as conn:
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id bigserial, application text, "
                                 "position bigint)").format(self._applied))
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (application text PRIMARY KEY, "
                                 "position bigint NOT NULL)").format(self._tracking))
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (application text, position "
                                 "bigint, topic text, error text, attempts int, parked_at "
                                 "timestamptz DEFAULT now())").format(self._parked))
            for source in SOURCES:
                conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, 0) ON CONFLICT DO NOTHING")
                             .format(self._tracking), (source,))

    def close(self) -> None:
        self.pool.close()

    def tracked_positions(self) -> dict[str, int]:
        with self.pool.connection() as conn:
            rows = conn.execute(sql.SQL("SELECT application, position FROM {}")
                                .format(self._tracking)).fetchall()
        return {a: int(p) for a, p in rows}

    def process_batch(self, batch: Sequence[Envelope]) -> None:
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.execute(sql.SQL("SELECT application, position FROM {} FOR UPDATE")
                                .format(self._tracking)).fetchall()
            tracked = {a: int(p) for a, p in rows}
            fresh = []
            for envelope in batch:
                if envelope.position <= tracked[envelope.application]:
                    continue
                if self.fail_on is not None and self.fail_on(envelope):
                    raise RuntimeError(f"poison {envelope.application}:{envelope.position}")
                fresh.append(envelope)
                tracked[envelope.application] = envelope.position
            with conn.cursor() as cur:
                cur.executemany(sql.SQL("INSERT INTO {} (application, position) VALUES (%s, %s)")
                                .format(self._applied),
                                [(e.application, e.position) for e in fresh])
                cur.executemany(sql.SQL("UPDATE {} SET position = %s WHERE application = %s")
                                .format(self._tracking), [(p, a) for a, p in tracked.items()])

    def park(self, envelope: Envelope, error: str, attempts: int) -> None:
        with self.pool.connection() as conn, conn.transaction():
            position = conn.execute(sql.SQL("SELECT position FROM {} WHERE application = %s "
                                            "FOR UPDATE").format(self._tracking),
                                    (envelope.application,)).fetchone()
            if position is not None and envelope.position <= position[0]:
                return
            conn.execute(sql.SQL("INSERT INTO {} (application, position, topic, error, attempts)"
                                 " VALUES (%s, %s, %s, %s, %s)").format(self._parked),
                         (envelope.application, envelope.position, envelope.topic, error,
                          attempts))
            conn.execute(sql.SQL("UPDATE {} SET position = %s WHERE application = %s")
                         .format(self._tracking), (envelope.position, envelope.application))

    def list_parked(self) -> list[ParkedEvent]:
        with self.pool.connection() as conn:
            rows = conn.execute(sql.SQL("SELECT application, position, topic, error, attempts, "
                                        "parked_at FROM {} ORDER BY position")
                                .format(self._parked)).fetchall()
        return [ParkedEvent(self.name, a, p, t, e, n, at) for a, p, t, e, n, at in rows]

    def applied(self) -> list[tuple[str, int]]:
        """Every (application, position) applied, in the order applied, duplicates included."""
        with self.pool.connection() as conn:
            rows = conn.execute(sql.SQL("SELECT application, position FROM {} ORDER BY id")
                                .format(self._applied)).fetchall()
        return [(a, int(p)) for a, p in rows]


ADMIN = Caller(account_id=None, is_admin=True)


def record_touches(container: Container, count: int, *, prefix: str = "m",
                   per_batch: int = 100, members: int = 7) -> None:
    """Record `count` impressions on a handful of members, `per_batch` per transaction."""
    campaign = ensure_campaign(container)
    for start in range(0, count, per_batch):
        items = [TouchIn(f"{prefix}-{i}", f"member-{i % members}", "impression", campaign,
                         datetime.now(UTC), {})
                 for i in range(start, min(count, start + per_batch))]
        results = container.ingestion.record_touches(ADMIN, items)
        assert all(r.status == "accepted" for r in results), results


_campaigns: dict[int, str] = {}


def ensure_campaign(container: Container) -> str:
    """A campaign to touch, created once per container."""
    key = id(container)
    # id() is reused once a container is collected: a remembered campaign of an earlier test's
    # container (another schema) is not this one's.
    if key not in _campaigns or container.management.find_campaign(_campaigns[key]) is None:
        account = container.management.create_account(ADMIN, "read side").account
        owner = Caller(account_id=str(account.id), is_admin=False)
        _campaigns[key] = str(container.management.create_campaign(
            owner, "c", "text_ad", "active").id)
    return _campaigns[key]


def store_positions(container: Container) -> dict[str, int]:
    """The highest position per source in the event store."""
    return {"management": container.management.recorder.max_notification_id() or 0,
            "ingestion": container.ingestion.recorder.max_notification_id() or 0}


def store_events(container: Container) -> list[tuple[str, int]]:
    """Every (application, position) in the event store."""
    events = []
    for name, app in (("management", container.management), ("ingestion", container.ingestion)):
        start = 1
        while True:
            page = app.recorder.select_notifications(start, 1000)
            if not page:
                break
            events.extend((name, n.id) for n in page)
            start = page[-1].id + 1
    return events


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "",
               interval: float = 0.05) -> None:
    """Poll until the predicate holds, or fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
