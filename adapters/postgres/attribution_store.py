"""The attribution read model in PostgreSQL: batch sessions, batch writes and the read API.

A batch is one transaction: lock the tracking rows, read what the batch needs with one query
per table, write new rows with COPY and changed rows with executemany, advance tracking,
commit (ADR 0007). The catch-up target (20,000 events/s in batches of ~1,000) rules out any
per-event or per-member round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from psycopg import Connection, sql
from psycopg_pool import ConnectionPool

from adapters.postgres.attribution_codec import (
    CONVERSION_COLUMNS,
    TOUCH_COLUMNS,
    RowDecoder,
    credits_json,
    history_json,
    history_of,
    settings_json,
    settings_of,
)
from adapters.postgres.attribution_copy import (
    CREDIT_NAMES,
    MEMBER_NAMES,
    TOUCH_NAMES,
    RulesText,
    conversions_copy,
    credits_copy,
    members_copy,
    touches_copy,
)
from adapters.postgres.attribution_session import PostgresAttributionSession, uuid_array
from adapters.postgres.tracking_store import PostgresTracking
from domain.attribution import Touch
from domain.member_timeline import ERASED
from projections.attribution.records import (
    ActionState,
    AttributionChanges,
    AttributionSession,
    AttributionView,
    CampaignState,
    ConversionFilter,
    ConversionRecord,
    MemberFacts,
)

_CONVERSION_NAMES = tuple(c.split("::")[0] for c in CONVERSION_COLUMNS.split(", "))


class PostgresAttributionView(PostgresTracking, AttributionView):
    """The attribution tables of one schema."""

    pipelined = True  # catch-up computes the next batch while PostgreSQL writes the last

    def __init__(self, pool: ConnectionPool, schema: str) -> None:
        super().__init__(pool, schema, "attribution")
        names = ("members", "touches", "conversions", "credits", "actions", "campaigns", "spend")
        self._tables = {name: self.t(f"attribution_{name}") for name in names}

    def sql(self, query: str) -> sql.Composed:
        """A query with {members}, {touches}, ... replaced by the schema-qualified tables."""
        return sql.SQL(query).format(**self._tables)

    @contextmanager
    def session(self) -> Iterator[AttributionSession]:
        with self.pool.connection() as conn, conn.transaction():
            # A crash may lose the last commits, but their tracking goes with them, so those
            # events are simply applied again: exactly-once holds without waiting for fsync.
            conn.execute("SET LOCAL synchronous_commit = off")
            yield PostgresAttributionSession(self, conn)

    @contextmanager
    def reader(self) -> Iterator[AttributionSession]:
        with self.pool.connection() as conn:
            # Each read sees the latest committed state, with no transaction to open and close
            # around every batch's reads (three round trips on the catch-up's critical path).
            conn.autocommit = True
            try:
                yield PostgresAttributionSession(self, conn, lock=False)
            finally:
                conn.autocommit = False

    # --- reads shared by sessions and queries ---------------------------------------------

    def fetch_actions(self, conn: Connection, action_ids: Iterable[str]) -> dict[str, ActionState]:
        """The known actions among these ids."""
        ids = list(action_ids)
        if not ids:
            return {}
        rows = conn.execute(self.sql("SELECT action_id, tag_id, settings::text FROM {actions} "
                                     "WHERE action_id = ANY(%s)"), (ids,), prepare=False
                            ).fetchall()
        return {a: ActionState(a, t, settings_of(s)) for a, t, s in rows}

    def fetch_campaigns(self, conn: Connection, campaign_ids: Iterable[str]
                        ) -> dict[str, CampaignState]:
        """The known campaigns among these ids."""
        ids = list(campaign_ids)
        if not ids:
            return {}
        rows = conn.execute(self.sql("SELECT campaign_id, owner_account_id, history::text "
                                     "FROM {campaigns} WHERE campaign_id = ANY(%s)"),
                            (ids,), prepare=False).fetchall()
        return {c: CampaignState(c, o, history_of(h)) for c, o, h in rows}

    def fetch_facts(self, conn: Connection, timeline_ids: list[str], decoder: RowDecoder,
                    *, with_conversions_only: bool = False) -> dict[str, MemberFacts]:
        """The conversions and touches of these timelines: one query per table."""
        # Never prepared (here and in every `= ANY(array)` read): psycopg prepares a query
        # after 5 runs, and the generic plan PostgreSQL then keeps was chosen while the table
        # was small: a sequential scan testing each row against the whole 1,000-id array,
        # which cost a catch-up ~15 µs of PostgreSQL CPU an event.
        if not timeline_ids:
            return {}
        facts: dict[str, MemberFacts] = {}
        with conn.cursor() as cur:
            cur.execute(self.sql(f"SELECT {CONVERSION_COLUMNS} FROM {{conversions}} "
                                 "WHERE timeline_id = ANY(%s::uuid[])"),
                        (uuid_array(timeline_ids),), prepare=False)
            conversion = decoder.conversion
            for row in cur.fetchall():
                record = conversion(row)
                found = facts.get(record.timeline_id)
                if found is None:
                    found = facts[record.timeline_id] = MemberFacts(record.timeline_id)
                found.conversions.append(record)
            if not with_conversions_only:
                facts = {t: facts.get(t) or MemberFacts(t) for t in timeline_ids}
            if not facts:
                return facts
            cur.execute(self.sql(f"SELECT {TOUCH_COLUMNS} FROM {{touches}} "
                                 "WHERE timeline_id = ANY(%s::uuid[])"),
                        (uuid_array(list(facts)),), prepare=False)
            for timeline_id, event_id, campaign_id, kind, occurred_at, seq in cur.fetchall():
                facts[timeline_id].touches.append(Touch(event_id, campaign_id, kind, occurred_at,
                                                        seq))
        return facts

    # --- the batch write -------------------------------------------------------------------

    def write(self, conn: Connection, changes: AttributionChanges) -> None:
        """Write one batch's changes (inside the session's transaction)."""
        rules_text = RulesText()
        with conn.cursor() as cur:
            self._copy(cur, "members", MEMBER_NAMES, members_copy(changes.members))
            self._copy(cur, "touches", TOUCH_NAMES, touches_copy(changes.touches))
            self._copy(cur, "conversions", _CONVERSION_NAMES,
                       conversions_copy(changes.new_conversions, rules_text))
            changed = changes.changed_conversions
            if changed:
                cur.executemany(self.sql(
                    "UPDATE {conversions} SET category = %s, rules = %s, status = %s, "
                    "credits = %s, value_minor = %s, currency = %s "
                    "WHERE tag_id = %s AND event_id = %s"),
                    [_outcome_params(c, rules_text) for c in changed])
                # A recomputed conversion's credits are replaced as a whole.
                cur.execute(self.sql(
                    "DELETE FROM {credits} c USING unnest(%s::text[], %s::text[]) "
                    "AS k(tag_id, event_id) WHERE c.tag_id = k.tag_id AND c.event_id = k.event_id"),
                    ([c.tag_id for c in changed], [c.event_id for c in changed]))
            self._copy(cur, "credits", CREDIT_NAMES,
                       credits_copy([*changes.new_conversions, *changed]))
            self._upserts(cur, changes)
            if changes.erased:
                self._erase(cur, sorted(changes.erased))

    def _erase(self, cur: Any, timeline_ids: list[str]) -> None:
        """Blank erased members (ADR 0027): their id, their touch ids, the touch ids in their
        conversions' credits. Last in the batch, so it also blanks what the batch wrote."""
        cur.execute(self.sql("UPDATE {members} SET member_id = %s "
                             "WHERE timeline_id = ANY(%s::uuid[])"), (ERASED, timeline_ids))
        cur.execute(self.sql("UPDATE {touches} SET event_id = %s "
                             "WHERE timeline_id = ANY(%s::uuid[])"), (ERASED, timeline_ids))
        # A fractional credit has a fifth element, its credit (attribution_codec.credits_json).
        cur.execute(self.sql(
            "UPDATE {conversions} SET member_id = %s, credits = (SELECT coalesce(json_agg("
            "CASE WHEN json_array_length(c) > 4 "
            "THEN json_build_array(c->0, c->1, %s::text, c->3, c->4) "
            "ELSE json_build_array(c->0, c->1, %s::text, c->3) END ORDER BY n), '[]'::json) "
            "FROM json_array_elements(credits) WITH ORDINALITY AS e(c, n)) "
            "WHERE timeline_id = ANY(%s::uuid[])"),
            (ERASED, ERASED, ERASED, timeline_ids))

    def _copy(self, cur: Any, name: str, columns: tuple[str, ...], data: bytes) -> None:
        if not data:
            return
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            self._tables[name], sql.SQL(", ").join(map(sql.Identifier, columns)))
        with cur.copy(statement) as copy:
            copy.write(data)

    def _upserts(self, cur: Any, changes: AttributionChanges) -> None:
        if changes.actions:
            cur.executemany(self.sql(
                "INSERT INTO {actions} (action_id, tag_id, settings) VALUES (%s, %s, %s) "
                "ON CONFLICT (action_id) DO UPDATE SET settings = EXCLUDED.settings"),
                [(a.action_id, a.tag_id, settings_json(a.settings))
                 for a in changes.actions.values()])
        if changes.campaigns:
            cur.executemany(self.sql(
                "INSERT INTO {campaigns} (campaign_id, owner_account_id, history) "
                "VALUES (%s, %s, %s) ON CONFLICT (campaign_id) DO UPDATE "
                "SET history = EXCLUDED.history"),
                [(c.campaign_id, c.owner_account_id, history_json(c))
                 for c in changes.campaigns.values()])
        if changes.spend:
            # docs/api.md: the last record for a day wins.
            cur.executemany(self.sql(
                "INSERT INTO {spend} (campaign_id, day, amount_minor, currency) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (campaign_id, day) DO UPDATE "
                "SET amount_minor = EXCLUDED.amount_minor, currency = EXCLUDED.currency"),
                [(c, d, a, cur_) for (c, d), (a, cur_) in changes.spend.items()])

    # --- the read API's queries ------------------------------------------------------------

    def list_conversions(self, query: ConversionFilter) -> list[ConversionRecord]:
        where: list[str] = ["tag_id = ANY(%s)"]
        params: list[Any] = [list(query.tag_ids)]
        for clause, value in (("action_id = %s", query.action_id),
                              ("timeline_id = %s::uuid", query.timeline_id),
                              ("status = %s", query.status),
                              ("occurred_at >= %s", query.occurred_from),
                              ("occurred_at < %s", query.occurred_before)):
            if value is not None:
                where.append(clause)
                params.append(value)
        if query.campaign_id is not None:
            where.append("EXISTS (SELECT 1 FROM {credits} c WHERE c.tag_id = x.tag_id "
                         "AND c.event_id = x.event_id AND c.campaign_id = %s)")
            params.append(query.campaign_id)
        if query.after is not None:
            where.append("(occurred_at, event_id, tag_id) < (%s, %s, %s)")
            params.extend(query.after)
        statement = (f"SELECT {CONVERSION_COLUMNS} FROM {{conversions}} x "
                     f"WHERE {' AND '.join(where)} "
                     "ORDER BY occurred_at DESC, event_id DESC, tag_id DESC LIMIT %s")
        params.append(query.limit)
        decoder = RowDecoder()
        with self.pool.connection() as conn:
            return [decoder.conversion(r)
                    for r in conn.execute(self.sql(statement), params).fetchall()]

    def find_conversions(self, event_id: str, tag_ids: Iterable[str]) -> list[ConversionRecord]:
        decoder = RowDecoder()
        with self.pool.connection() as conn:
            rows = conn.execute(self.sql(f"SELECT {CONVERSION_COLUMNS} FROM {{conversions}} "
                                         "WHERE event_id = %s AND tag_id = ANY(%s) "
                                         "ORDER BY tag_id"),
                                (event_id, list(tag_ids))).fetchall()
        return [decoder.conversion(r) for r in rows]

    def get_member_facts(self, timeline_id: str) -> MemberFacts:
        with self.pool.connection() as conn:
            return self.fetch_facts(conn, [timeline_id], RowDecoder())[timeline_id]

    def get_conversion_window(self, record: ConversionRecord, since: datetime) -> MemberFacts:
        # Bounded by the windows, so an explanation costs the same for a member with years of
        # history as for a new one (the member index narrows, the time range filters).
        decoder = RowDecoder()
        with self.pool.connection() as conn:
            touches = conn.execute(self.sql(
                f"SELECT {TOUCH_COLUMNS} FROM {{touches}} WHERE timeline_id = %s "
                "AND occurred_at BETWEEN %s AND %s"),
                (record.timeline_id, since, record.occurred_at)).fetchall()
            conversions = conn.execute(self.sql(
                f"SELECT {CONVERSION_COLUMNS} FROM {{conversions}} WHERE timeline_id = %s "
                "AND action_id = %s AND occurred_at >= %s AND (occurred_at, seq) < (%s, %s)"),
                (record.timeline_id, record.action_id, since, record.occurred_at,
                 record.seq)).fetchall()
        return MemberFacts(record.timeline_id, [decoder.touch(r)[1] for r in touches],
                           [decoder.conversion(r) for r in conversions])

    def list_campaigns(self, campaign_ids: Iterable[str]) -> dict[str, CampaignState]:
        with self.pool.connection() as conn:
            return self.fetch_campaigns(conn, campaign_ids)


def _outcome_params(record: ConversionRecord, rules_text: RulesText) -> tuple[Any, ...]:
    value = record.outcome.value
    return (record.category, rules_text(record.rules), record.outcome.status,
            credits_json(record.outcome.credits),
            None if value is None else value.amount_minor,
            None if value is None else value.currency, record.tag_id, record.event_id)
