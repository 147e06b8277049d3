"""The ingestion event recorder for PostgreSQL: events plus the fact ledger in one transaction.

It extends the library's application recorder at its documented hook (`_insert_events`, the
same one the process recorder uses for tracking), so the ledger rows commit or roll back with
the events (ADR 0004).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composable, Identifier
from psycopg.types.json import Jsonb

from adapters.postgres.binary_arrays import bytea_array, int8_array, text_array, uuid_array
from application.fact_ledger import (
    DeadLetter,
    DeadLetterQuery,
    DuplicateEntry,
    FactKey,
    Ledger,
    MemberHead,
)


class PostgresFactRecorder(PostgresApplicationRecorder):
    """Stores member-timeline events, fact keys, the duplicate ledger and dead letters."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(datastore.schema)
        self._keys = SQL("{}.fact_keys").format(schema)
        self._dups = SQL("{}.fact_duplicates").format(schema)
        self._dead = SQL("{}.dead_letters").format(schema)
        self._member_keys = SQL("{}.member_keys").format(schema)
        self._insert_columns = SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id").format(schema, Identifier(events_table_name))
        self.sql_create_statements.extend([
            SQL("CREATE TABLE IF NOT EXISTS {} (scope text NOT NULL, event_id text NOT NULL, "
                "member_id text, source text NOT NULL, "
                "recorded_at timestamptz NOT NULL DEFAULT now(), campaign_id text, "
                "PRIMARY KEY (scope, event_id))").format(self._keys),
            # Tables made before keys could name no member (opt-out) or a touch's campaign.
            SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS campaign_id text").format(self._keys),
            SQL("ALTER TABLE {} ALTER COLUMN member_id DROP NOT NULL").format(self._keys),
            SQL("CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, scope text NOT NULL, "
                "event_id text NOT NULL, source text NOT NULL, received_at timestamptz NOT NULL, "
                "payload jsonb NOT NULL)").format(self._dups),
            SQL("CREATE INDEX IF NOT EXISTS fact_duplicates_key ON {} (scope, event_id)"
                ).format(self._dups),
            SQL("CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, kind text NOT NULL, "
                "event_id text, field text, reason text NOT NULL, detail text NOT NULL, "
                "received_at timestamptz NOT NULL, actor text NOT NULL, payload jsonb)"
                ).format(self._dead),
            # Issue 9.6: tables made before payloads were capped; the listing's index (one
            # index scan per page: an actor's rows by id, newest first).
            SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS truncated boolean NOT NULL "
                "DEFAULT false").format(self._dead),
            SQL("CREATE INDEX IF NOT EXISTS dead_letters_actor_id ON {} (actor, id)"
                ).format(self._dead),
            # ADR 0027: a member's key and random timeline id; erasure deletes the row.
            SQL("CREATE TABLE IF NOT EXISTS {} (member_id text PRIMARY KEY, "
                "timeline_id uuid UNIQUE NOT NULL, key bytea NOT NULL)").format(self._member_keys),
        ])
        # The keyed members' rows first (by the primary key), then every member's timeline id
        # (keyed, else legacy), then the heads of those timelines as select_heads reads them.
        # A join of the events per member (LATERAL) was planned as ~1e6 in cost on a young
        # table and JIT-compiled on every batch (~230 ms): the array form keeps the old plan.
        self._member_heads = SQL(
            "WITH m AS MATERIALIZED (SELECT * FROM unnest(%b::text[], %b::uuid[]) "
            " AS m(member_id, legacy)), "
            "k AS MATERIALIZED (SELECT member_id, timeline_id, key FROM {} "
            " WHERE member_id = ANY(ARRAY(SELECT member_id FROM m))), "
            "t AS MATERIALIZED (SELECT m.member_id, coalesce(k.timeline_id, m.legacy) "
            " AS timeline_id, k.key FROM m LEFT JOIN k ON k.member_id = m.member_id), "
            "h AS (SELECT originator_id, max(originator_version) AS version, "
            " (array_agg(topic ORDER BY originator_version DESC) "
            "  FILTER (WHERE topic = ANY(%b::text[])))[1] AS consent "
            " FROM {}.{} WHERE originator_id = ANY(ARRAY(SELECT timeline_id FROM t)) "
            " GROUP BY originator_id) "
            "SELECT t.member_id, t.timeline_id, t.key, h.version, h.consent "
            "FROM t LEFT JOIN h ON h.originator_id = t.timeline_id"
        ).format(self._member_keys, schema, Identifier(events_table_name))
        # A batch's event ids, each looked up by the primary key. `scope = $1 AND event_id =
        # ANY($2)` let the planner read every key of the scope (one tag holds them all): a
        # bitmap scan of the whole scope without statistics, a sequential scan with them, 25-70
        # ms a batch at 100,000-200,000 keys and growing with the table, where the probes take
        # 3-7 ms at any size (ADR 0034). A LATERAL subquery with LIMIT is never flattened into
        # a join, so each id stays one probe, and its cost estimate stays far below JIT's.
        self._find_keys = SQL(
            "SELECT k.scope, k.event_id, k.member_id, k.source, k.campaign_id "
            "FROM unnest(%b::text[]) AS e(event_id) CROSS JOIN LATERAL "
            "(SELECT * FROM {} f WHERE f.scope = %b AND f.event_id = e.event_id LIMIT 1) k"
        ).format(self._keys)
        self._erasure_statements = [SQL(s).format(keys=self._keys, dups=self._dups,
                                                  dead=self._dead, members=self._member_keys)
                                    for s in _ERASURE]

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # Same statement as the library's, but with one array per column instead of an array
        # of composite values: psycopg dumps composites in Python, which cost a quarter of the
        # ingestion time when profiled (bench/ingest.py, ADR 0004), and the arrays built in
        # bulk (adapters/postgres/binary_arrays.py, ADR 0034). RETURNING keeps the order.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self._insert_columns, (
            uuid_array([e.originator_id for e in stored_events]),
            int8_array([e.originator_version for e in stored_events]),
            text_array([e.topic for e in stored_events]),
            bytea_array([e.state for e in stored_events]),
        ))

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        ledger: Ledger | None = kwargs.get("ledger")
        if ledger is not None:
            self._insert_ledger(curs, ledger)
        super()._insert_events(curs, stored_events, **kwargs)

    def _insert_ledger(self, curs: Cursor[DictRow], ledger: Ledger) -> None:
        if ledger.member_keys:
            # A member created by a concurrent batch raises IntegrityError: retried (ADR 0004).
            rows = ledger.member_keys
            curs.execute(
                SQL("INSERT INTO {} (member_id, timeline_id, key) "
                    "SELECT * FROM unnest(%b::text[], %b::uuid[], %b::bytea[])"
                    ).format(self._member_keys),
                (text_array([m for m, _, _ in rows]), uuid_array([t for _, t, _ in rows]),
                 bytea_array([k for _, _, k in rows])))
        for member_id in ledger.erasures:
            for statement in self._erasure_statements:
                curs.execute(statement, {"member": member_id})
        if ledger.fact_keys:
            # A key that exists already raises IntegrityError: the batch is retried (ADR 0004).
            keys = ledger.fact_keys
            curs.execute(
                SQL("INSERT INTO {} (scope, event_id, member_id, source, campaign_id) "
                    "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], "
                    "%b::text[])").format(self._keys),
                (text_array([k.scope for k in keys]), text_array([k.event_id for k in keys]),
                 text_array([k.member_id for k in keys]), text_array([k.source for k in keys]),
                 text_array([k.campaign_id for k in keys])))
        if ledger.duplicates:
            curs.executemany(
                SQL("INSERT INTO {} (scope, event_id, source, received_at, payload) "
                    "VALUES (%s, %s, %s, %s, %s)").format(self._dups),
                [(d.scope, d.event_id, d.source, d.received_at, Jsonb(d.payload))
                 for d in ledger.duplicates])
        if ledger.dead_letters:
            curs.executemany(
                SQL("INSERT INTO {} (kind, event_id, field, reason, detail, received_at, actor, "
                    "payload, truncated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    ).format(self._dead),
                [(d.kind, d.event_id, d.field, d.reason, d.detail, d.received_at, d.actor,
                  Jsonb(d.payload), d.truncated) for d in ledger.dead_letters])

    def find_fact_keys(self, scope: str, event_ids: Sequence[str]) -> dict[str, FactKey]:
        """The recorded keys among these event ids: one primary-key probe per id."""
        if not event_ids:
            return {}
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._find_keys, (text_array(event_ids), scope))
            return {r[1]: FactKey(*r) for r in curs.fetchall()}

    def select_heads(
        self, originator_ids: Sequence[UUID], consent_topics: Sequence[str]
    ) -> dict[UUID, tuple[int, str | None]]:
        """Per aggregate: its last version and the topic of its last consent event, if any."""
        if not originator_ids:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL(
                "SELECT originator_id, max(originator_version) AS version, "
                "(array_agg(topic ORDER BY originator_version DESC) "
                " FILTER (WHERE topic = ANY(%s)))[1] AS consent "
                "FROM {}.{} WHERE originator_id = ANY(%b) GROUP BY originator_id").format(
                    Identifier(self.datastore.schema), Identifier(self.events_table_name)),
                (list(consent_topics), list(originator_ids)))
            return {r["originator_id"]: (r["version"], r["consent"]) for r in curs.fetchall()}

    def list_duplicates(self, scope: str, event_id: str) -> list[DuplicateEntry]:
        """Every copy of this fact that was answered `duplicate`, oldest first."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT scope, event_id, source, received_at, payload FROM {} "
                             "WHERE scope = %s AND event_id = %s ORDER BY id").format(self._dups),
                         (scope, event_id))
            return [DuplicateEntry(r["scope"], r["event_id"], r["source"], r["received_at"],
                                   r["payload"]) for r in curs.fetchall()]

    def select_member_keys(self, member_ids: Sequence[str]) -> dict[str, tuple[UUID, bytes]]:
        """Per known member id: its timeline id and key (ADR 0027)."""
        if not member_ids:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT member_id, timeline_id, key FROM {} "
                             "WHERE member_id = ANY(%b::text[])").format(self._member_keys),
                         (list(member_ids),))
            return {r["member_id"]: (r["timeline_id"], bytes(r["key"]))
                    for r in curs.fetchall()}

    def select_member_heads(
        self, member_ids: Sequence[str], legacy_ids: Sequence[UUID],
        consent_topics: Sequence[str],
    ) -> dict[str, MemberHead]:
        """Per member id: timeline id (keyed, else legacy), key, last version and last consent
        topic, in one query for a whole batch (ADR 0004, ADR 0027)."""
        if not member_ids:
            return {}
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._member_heads, (text_array(member_ids), uuid_array(legacy_ids),
                                              text_array(consent_topics)))
            return {m: MemberHead(t, None if k is None else bytes(k), v, c)
                    for m, t, k, v, c in curs.fetchall()}

    def select_timeline_keys(self, timeline_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """Per timeline id with a key: the key (an erased member's is gone)."""
        if not timeline_ids:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT timeline_id, key FROM {} "
                             "WHERE timeline_id = ANY(%b::uuid[])").format(self._member_keys),
                         (list(timeline_ids),))
            return {r["timeline_id"]: bytes(r["key"]) for r in curs.fetchall()}

    def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent rejected items, newest first."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT id, kind, event_id, field, reason, detail, received_at, "
                             "actor, payload, truncated FROM {} ORDER BY id DESC LIMIT %s"
                             ).format(self._dead), (limit,))
            return [_dead_letter(r) for r in curs.fetchall()]

    def find_dead_letters(self, query: DeadLetterQuery) -> list[DeadLetter]:
        """The query's dead letters, newest first: one scan of the (actor, id) index."""
        where: list[Composable] = [SQL("actor = %s")]
        args: list[Any] = [query.actor]
        for column, op, value in (("kind", "=", query.kind), ("reason", "=", query.reason),
                                  ("received_at", ">=", query.received_from),
                                  ("received_at", "<", query.received_before),
                                  ("id", "<", query.before_id)):
            if value is not None:
                where.append(SQL("{} {} %s").format(Identifier(column), SQL(op)))
                args.append(value)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT id, kind, event_id, field, reason, detail, received_at, "
                             "actor, payload, truncated FROM {} WHERE {} "
                             "ORDER BY id DESC LIMIT %s").format(
                                 self._dead, SQL(" AND ").join(where)),
                         (*args, query.limit))
            return [_dead_letter(r) for r in curs.fetchall()]

    def expire_dead_letters(self, before: datetime) -> int:
        """Delete the dead letters received before this moment, in one statement."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {} WHERE received_at < %s").format(self._dead),
                         (before,))
            return curs.rowcount


def _dead_letter(r: DictRow) -> DeadLetter:
    """A dead_letters row as a DeadLetter."""
    return DeadLetter(r["kind"], r["event_id"], r["field"], r["reason"], r["detail"],
                      r["received_at"], r["actor"], r["payload"], r["truncated"], r["id"])


# ADR 0027: erasing a member, in the transaction that records their `Erased` event. The ids
# that name them: the member id and their touch ids (a click's event_id is its click id).
# Ledger entries holding any of them as a JSON string value, at any depth, go; so do their
# touch keys (an HMAC of the id would let whoever holds the secret test a guessed id), and
# the member leaves their conversion keys, which stay so a resent conversion is a duplicate.
# These scan the ledger tables: erasures are rare, and an index on fact_keys.member_id would
# cost every ingested fact instead.
_NAMED = ("ARRAY[%(member)s::text] || ARRAY(SELECT event_id FROM {keys} "
          "WHERE scope = 'touch' AND member_id = %(member)s)")
_ERASURE = [
    "DELETE FROM {dups} WHERE EXISTS (SELECT 1 FROM jsonb_path_query(payload, 'strict $.**') v "
    f"WHERE jsonb_typeof(v) = 'string' AND v #>> '{{{{}}}}' = ANY({_NAMED})) "
    f"OR (scope = 'touch' AND event_id = ANY({_NAMED}))",
    f"DELETE FROM {{dead}} WHERE event_id = ANY({_NAMED}) "
    "OR EXISTS (SELECT 1 FROM jsonb_path_query(coalesce(payload, 'null'), 'strict $.**') v "
    f"WHERE jsonb_typeof(v) = 'string' AND v #>> '{{{{}}}}' = ANY({_NAMED})) "
    f"OR EXISTS (SELECT 1 FROM unnest({_NAMED}) n WHERE strpos(detail, n) > 0)",
    "DELETE FROM {keys} WHERE scope = 'touch' AND member_id = %(member)s",
    "UPDATE {keys} SET member_id = NULL WHERE member_id = %(member)s",
    "DELETE FROM {members} WHERE member_id = %(member)s",
]
