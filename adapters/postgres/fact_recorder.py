"""The ingestion event recorder for PostgreSQL: events plus the fact ledger in one transaction.

It extends the library's application recorder at its documented hook (`_insert_events`, the
same one the process recorder uses for tracking), so the ledger rows commit or roll back with
the events (ADR 0004).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

from application.fact_ledger import DeadLetter, DuplicateEntry, FactKey, Ledger


class PostgresFactRecorder(PostgresApplicationRecorder):
    """Stores member-timeline events, fact keys, the duplicate ledger and dead letters."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(datastore.schema)
        self._keys = SQL("{}.fact_keys").format(schema)
        self._dups = SQL("{}.fact_duplicates").format(schema)
        self._dead = SQL("{}.dead_letters").format(schema)
        self.sql_create_statements.extend([
            SQL("CREATE TABLE IF NOT EXISTS {} (scope text NOT NULL, event_id text NOT NULL, "
                "member_id text NOT NULL, source text NOT NULL, "
                "recorded_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (scope, event_id))").format(self._keys),
            SQL("CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, scope text NOT NULL, "
                "event_id text NOT NULL, source text NOT NULL, received_at timestamptz NOT NULL, "
                "payload jsonb NOT NULL)").format(self._dups),
            SQL("CREATE INDEX IF NOT EXISTS fact_duplicates_key ON {} (scope, event_id)"
                ).format(self._dups),
            SQL("CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, kind text NOT NULL, "
                "event_id text, field text, reason text NOT NULL, detail text NOT NULL, "
                "received_at timestamptz NOT NULL, actor text NOT NULL, payload jsonb)"
                ).format(self._dead),
        ])

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        ledger: Ledger | None = kwargs.get("ledger")
        if ledger is not None:
            self._insert_ledger(curs, ledger)
        super()._insert_events(curs, stored_events, **kwargs)

    def _insert_ledger(self, curs: Cursor[DictRow], ledger: Ledger) -> None:
        if ledger.fact_keys:
            # A key that exists already raises IntegrityError: the batch is retried (ADR 0004).
            curs.executemany(
                SQL("INSERT INTO {} (scope, event_id, member_id, source) "
                    "VALUES (%s, %s, %s, %s)").format(self._keys),
                [(k.scope, k.event_id, k.member_id, k.source) for k in ledger.fact_keys])
        if ledger.duplicates:
            curs.executemany(
                SQL("INSERT INTO {} (scope, event_id, source, received_at, payload) "
                    "VALUES (%s, %s, %s, %s, %s)").format(self._dups),
                [(d.scope, d.event_id, d.source, d.received_at, Jsonb(d.payload))
                 for d in ledger.duplicates])
        if ledger.dead_letters:
            curs.executemany(
                SQL("INSERT INTO {} (kind, event_id, field, reason, detail, received_at, actor, "
                    "payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)").format(self._dead),
                [(d.kind, d.event_id, d.field, d.reason, d.detail, d.received_at, d.actor,
                  Jsonb(d.payload)) for d in ledger.dead_letters])

    def find_fact_keys(self, scope: str, event_ids: Sequence[str]) -> dict[str, FactKey]:
        """The recorded keys among these event ids."""
        if not event_ids:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT scope, event_id, member_id, source FROM {} "
                             "WHERE scope = %s AND event_id = ANY(%s)").format(self._keys),
                         (scope, list(event_ids)))
            return {r["event_id"]: FactKey(r["scope"], r["event_id"], r["member_id"],
                                           r["source"]) for r in curs.fetchall()}

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of these aggregates, in one query (batch loading of timelines)."""
        if not originator_ids:
            return []
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT originator_id, originator_version, topic, state FROM {}.{} "
                             "WHERE originator_id = ANY(%s) "
                             "ORDER BY originator_id, originator_version").format(
                                 Identifier(self.datastore.schema),
                                 Identifier(self.events_table_name)),
                         (list(originator_ids),))
            return [StoredEvent(originator_id=r["originator_id"],
                                originator_version=r["originator_version"], topic=r["topic"],
                                state=bytes(r["state"])) for r in curs.fetchall()]

    def list_duplicates(self, scope: str, event_id: str) -> list[DuplicateEntry]:
        """Every copy of this fact that was answered `duplicate`, oldest first."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT scope, event_id, source, received_at, payload FROM {} "
                             "WHERE scope = %s AND event_id = %s ORDER BY id").format(self._dups),
                         (scope, event_id))
            return [DuplicateEntry(r["scope"], r["event_id"], r["source"], r["received_at"],
                                   r["payload"]) for r in curs.fetchall()]

    def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent rejected items, newest first."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT kind, event_id, field, reason, detail, received_at, actor, "
                             "payload FROM {} ORDER BY id DESC LIMIT %s").format(self._dead),
                         (limit,))
            return [DeadLetter(r["kind"], r["event_id"], r["field"], r["reason"], r["detail"],
                               r["received_at"], r["actor"], r["payload"])
                    for r in curs.fetchall()]
