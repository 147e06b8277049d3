"""Tracking and parking in PostgreSQL, shared by every read-model store (ADR 0007).

A batch locks its projection's tracking rows (SELECT ... FOR UPDATE) for its whole
transaction: two workers of one projection therefore apply batches one after the other, and
the second sees the positions the first committed, so it drops what was already applied.
"""

from __future__ import annotations

from collections.abc import Mapping

from psycopg import Connection, sql
from psycopg_pool import ConnectionPool

from adapters.postgres.read_models import table
from projections.base import Envelope, ParkedEvent
from projections.tracking import TrackedView


class PostgresTracking(TrackedView):
    """The tracking and parked tables of one projection."""

    def __init__(self, pool: ConnectionPool, schema: str, projection: str) -> None:
        self.pool = pool
        self.schema = schema
        self._tracking = table(schema, f"{projection}_tracking")
        self._parked = table(schema, f"{projection}_parked")

    def t(self, name: str) -> sql.Identifier:
        """One of this store's tables, schema-qualified."""
        return table(self.schema, name)

    def lock_positions(self, conn: Connection) -> dict[str, int]:
        """Lock the tracking rows until the transaction ends; the positions."""
        rows = conn.execute(sql.SQL("SELECT application, position FROM {} ORDER BY application "
                                    "FOR UPDATE").format(self._tracking)).fetchall()
        return {str(application): int(position) for application, position in rows}

    def read_positions(self, conn: Connection) -> dict[str, int]:
        """The positions, without locking (a reader's view of the committed state)."""
        rows = conn.execute(sql.SQL("SELECT application, position FROM {}")
                            .format(self._tracking)).fetchall()
        return {str(application): int(position) for application, position in rows}

    def save_positions(self, conn: Connection, positions: Mapping[str, int]) -> None:
        """Advance the tracking rows (inside the locking transaction)."""
        with conn.cursor() as cur:
            cur.executemany(sql.SQL("UPDATE {} SET position = %s WHERE application = %s")
                            .format(self._tracking),
                            [(position, application) for application, position
                             in positions.items()])

    def tracked_positions(self) -> dict[str, int]:
        with self.pool.connection() as conn:
            return self.read_positions(conn)

    def park(self, projection: str, envelope: Envelope, error: str, attempts: int) -> None:
        with self.pool.connection() as conn, conn.transaction():
            positions = self.lock_positions(conn)
            if envelope.position <= positions.get(envelope.application, 0):
                return  # applied or parked already: parking again would change nothing
            conn.execute(sql.SQL("INSERT INTO {} (application, position, topic, error, attempts) "
                                 "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")
                         .format(self._parked),
                         (envelope.application, envelope.position, envelope.topic, error,
                          attempts))
            self.save_positions(conn, {envelope.application: envelope.position})

    def list_parked(self, projection: str) -> list[ParkedEvent]:
        with self.pool.connection() as conn:
            rows = conn.execute(sql.SQL("SELECT application, position, topic, error, attempts, "
                                        "parked_at FROM {} ORDER BY parked_at, application, "
                                        "position").format(self._parked)).fetchall()
        return [ParkedEvent(projection, a, p, t, e, n, at) for a, p, t, e, n, at in rows]
