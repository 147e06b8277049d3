"""One relay per deployment at a time: the relay's lease on its schema (ADR 0017).

Two relays over one event store are safe (positions only move forward, JetStream drops
re-publishes by Nats-Msg-Id, workers skip what they applied: ADR 0008) but do the work twice,
and every `convtrack serve` and `convtrack worker --relay` starts one. The lease is a PostgreSQL
session advisory lock on (this class, the schema), held on a connection of the relay's own: it
is released the moment that connection ends, whether the relay stopped, crashed or was killed,
and a standby relay takes over at its next try.
"""

from __future__ import annotations

import logging

import psycopg

_log = logging.getLogger("convtrack.relay")

LOCK_CLASS = 0x6372656C  # "crel"


class RelayLease:
    """Whether this relay may publish; kept by holding an advisory lock on its own connection."""

    def __init__(self, database_url: str, schema: str) -> None:
        self.database_url = database_url
        self.schema = schema
        self._conn: psycopg.Connection | None = None
        self.held = False

    def hold(self) -> bool:
        """Take the lease if it is free, or check that it is still held; whether it is held."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.database_url, autocommit=True)
                self.held = False
            if self.held:
                self._conn.execute("SELECT 1")  # the lock lives exactly as long as this session
                return True
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                     (LOCK_CLASS, self.schema)).fetchone()
            self.held = bool(row and row[0])
            if self.held:
                _log.info("relay lease taken", extra={"schema": self.schema})
            return self.held
        except psycopg.Error as error:
            _log.warning("relay lease lost: %s", error, extra={"schema": self.schema,
                                                                "error": repr(error)})
            self.release()
            return False

    def release(self) -> None:
        """Give the lease up (closing the connection releases the lock)."""
        self.held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass
