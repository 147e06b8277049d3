"""The audit trail in PostgreSQL: one row per management event, and each aggregate's scope."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import msgspec
from psycopg import Connection, sql
from psycopg_pool import ConnectionPool

from adapters.postgres.tracking_store import PostgresTracking
from projections.audit import (
    AuditChanges,
    AuditFilter,
    AuditRecord,
    AuditScope,
    AuditSession,
    AuditView,
)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class _Session(AuditSession):
    def __init__(self, store: PostgresAuditView, conn: Connection) -> None:
        self.store = store
        self.conn = conn
        self._positions = store.lock_positions(conn)

    def positions(self) -> dict[str, int]:
        return dict(self._positions)

    def get_scopes(self, aggregate_ids: Iterable[str]) -> dict[str, AuditScope]:
        ids = list(aggregate_ids)
        if not ids:
            return {}
        rows = self.conn.execute(sql.SQL("SELECT aggregate_id, account_id, tag_id FROM {} "
                                         "WHERE aggregate_id = ANY(%s)").format(self.store.scopes),
                                 (ids,)).fetchall()
        return {a: AuditScope(account, tag) for a, account, tag in rows}

    def save(self, changes: AuditChanges, positions: Mapping[str, int]) -> None:
        with self.conn.cursor() as cur:
            if changes.records:
                columns = ("position", "aggregate_id", "type", "occurred_at", "recorded_at",
                           "actor", "data", "account_id", "tag_id")
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    self.store.events, sql.SQL(", ").join(map(sql.Identifier, columns)))
                with cur.copy(statement) as copy:
                    for r in changes.records:
                        copy.write_row((r.position, r.aggregate_id, r.type, r.occurred_at,
                                        r.recorded_at, r.actor, _encode(r.data).decode(),
                                        r.scope.account_id, r.scope.tag_id))
            if changes.scopes:
                cur.executemany(sql.SQL("INSERT INTO {} (aggregate_id, account_id, tag_id) "
                                        "VALUES (%s, %s, %s) ON CONFLICT (aggregate_id) DO UPDATE "
                                        "SET account_id = EXCLUDED.account_id, "
                                        "tag_id = EXCLUDED.tag_id").format(self.store.scopes),
                                [(a, s.account_id, s.tag_id) for a, s in changes.scopes.items()])
        self.store.save_positions(self.conn, positions)


class PostgresAuditView(PostgresTracking, AuditView):
    """The audit tables of one schema."""

    def __init__(self, pool: ConnectionPool, schema: str) -> None:
        super().__init__(pool, schema, "audit")
        self.events = self.t("audit_events")
        self.scopes = self.t("audit_scopes")

    @contextmanager
    def session(self) -> Iterator[AuditSession]:
        with self.pool.connection() as conn, conn.transaction():
            # As for attribution: a commit lost in a crash takes its tracking with it, so the
            # events are applied again; no need to wait for the WAL flush (ADR 0007).
            conn.execute("SET LOCAL synchronous_commit = off")
            yield _Session(self, conn)

    def list_audit(self, query: AuditFilter) -> list[AuditRecord]:
        where = ["(account_id = ANY(%s) OR tag_id = ANY(%s))", "position > %s"]
        params: list[Any] = [list(query.account_ids), list(query.tag_ids), query.after_position]
        for clause, value in (("aggregate_id = %s", query.aggregate_id),
                              ("account_id = %s", query.account_id),
                              ("occurred_at >= %s", query.occurred_from),
                              ("occurred_at < %s", query.occurred_before)):
            if value is not None:
                where.append(clause)
                params.append(value)
        statement = sql.SQL("SELECT position, aggregate_id, type, occurred_at, recorded_at, actor, "
                            "data::text, account_id, tag_id FROM {} WHERE " + " AND ".join(where)
                            + " ORDER BY position LIMIT %s").format(self.events)
        params.append(query.limit)
        with self.pool.connection() as conn:
            rows = conn.execute(statement, params).fetchall()
        return [AuditRecord(p, a, t, o, r, actor, _decode(d), AuditScope(account, tag))
                for p, a, t, o, r, actor, d, account, tag in rows]
