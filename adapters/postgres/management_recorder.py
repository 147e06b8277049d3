"""The management event recorder for PostgreSQL: events plus API key hashes in one transaction,
and the day each key was last used (ADR 0022).

It extends the library's application recorder at its documented hook (`_insert_events`, as the
ingestion recorder does for its ledger), so a key's hash commits or rolls back with the event
that creates the key. The hashes stay out of the events, so the relay never has them to send.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from application.account_keys import KeyHash


class PostgresManagementRecorder(PostgresApplicationRecorder):
    """Stores management events, the hashes of the keys they create, and keys' last use."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(datastore.schema)
        self._hashes = SQL("{}.account_keys").format(schema)
        self._use = SQL("{}.account_key_use").format(schema)
        self.sql_create_statements.extend([
            # Written once with the key's creation event, never updated: which keys are live is
            # the events' business (Account.KeyRevoked), not this table's.
            SQL("CREATE TABLE IF NOT EXISTS {} (key_id text PRIMARY KEY, "
                "account_id uuid NOT NULL, key_hash text NOT NULL)").format(self._hashes),
            SQL("CREATE INDEX IF NOT EXISTS account_keys_account ON {} (account_id)"
                ).format(self._hashes),
            # Apart, because it is written outside the events' transactions (once a day a key).
            SQL("CREATE TABLE IF NOT EXISTS {} (key_id text PRIMARY KEY, last_used_day date "
                "NOT NULL)").format(self._use),
        ])

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        key_hashes: Sequence[KeyHash] = kwargs.get("key_hashes") or ()
        if key_hashes:
            # A key id that exists already raises IntegrityError: the command is retried.
            curs.executemany(
                SQL("INSERT INTO {} (key_id, account_id, key_hash) VALUES (%s, %s, %s)"
                    ).format(self._hashes),
                [(k.key_id, k.account_id, k.key_hash) for k in key_hashes])
        super()._insert_events(curs, stored_events, **kwargs)

    def select_key_hashes(self, account_id: UUID) -> dict[str, str]:
        """Every key hash of the account, by key id (revoked keys included)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT key_id, key_hash FROM {} WHERE account_id = %s"
                             ).format(self._hashes), (account_id,))
            return {r["key_id"]: r["key_hash"] for r in curs.fetchall()}

    def record_key_use(self, key_id: str, day: date) -> None:
        """The key was used on this UTC day; days only move forward."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL(
                "INSERT INTO {0} AS u (key_id, last_used_day) VALUES (%s, %s) "
                "ON CONFLICT (key_id) DO UPDATE SET last_used_day = EXCLUDED.last_used_day "
                "WHERE u.last_used_day < EXCLUDED.last_used_day").format(self._use),
                (key_id, day))

    def select_key_use(self, key_ids: Sequence[str]) -> dict[str, date]:
        """The last day each of these keys was used, for those ever used."""
        if not key_ids:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT key_id, last_used_day FROM {} WHERE key_id = ANY(%s)"
                             ).format(self._use), (list(key_ids),))
            return {r["key_id"]: r["last_used_day"] for r in curs.fetchall()}
