"""The read models' tables in PostgreSQL (DDL), and the connection pool they share.

Tables live in the schema given (the configured one, beside the event store) and carry their
projection's name as a prefix; each projection has its own tracking table (one row per source
application, updated in the same transaction as its read-model changes: ADR 0007) and its own
parked-events table.
"""

from __future__ import annotations

from psycopg import sql
from psycopg_pool import ConnectionPool

from adapters.postgres.event_store import libpq_options
from projections.base import SOURCES

# An advisory lock key, so two processes starting at once do not race on CREATE TABLE.
_DDL_LOCK = 7_420_013


def open_pool(database_url: str, size: int, wait: float = 3.0) -> ConnectionPool:
    """A pool whose sessions speak UTC, so every timestamp read back is an aware UTC time.

    A caller waits at most `wait` seconds for a connection (then psycopg_pool.PoolTimeout, an
    OperationalError: 503 for the read API), and a lost database is reconnected soon after it
    is back (adapters/postgres/event_store.py says why).
    """
    return ConnectionPool(database_url, min_size=1, max_size=max(size, 2),
                          kwargs={"options": "-c timezone=UTC", **libpq_options(round(wait))},
                          open=True, name="convtrack-read-models", timeout=wait,
                          reconnect_timeout=10.0)


def table(schema: str, name: str) -> sql.Identifier:
    """A schema-qualified table name."""
    return sql.Identifier(schema, name)


def tracking_ddl(schema: str, projection: str) -> list[sql.Composable]:
    """The tracking and parked tables of one projection, with a row per source."""
    tracking = table(schema, f"{projection}_tracking")
    parked = table(schema, f"{projection}_parked")
    rows = sql.SQL(", ").join(sql.SQL("({}, 0)").format(sql.Literal(s)) for s in SOURCES)
    return [
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (application text PRIMARY KEY, "
                "position bigint NOT NULL)").format(tracking),
        sql.SQL("INSERT INTO {} (application, position) VALUES {} ON CONFLICT DO NOTHING"
                ).format(tracking, rows),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (application text NOT NULL, position bigint "
                "NOT NULL, topic text NOT NULL, error text NOT NULL, attempts int NOT NULL, "
                "parked_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (application, position))"
                ).format(parked),
    ]


_ATTRIBUTION = [
    "CREATE TABLE IF NOT EXISTS {s}.attribution_members (timeline_id uuid PRIMARY KEY, "
    "member_id text NOT NULL)",
    # Touches are read by member (a batch's recompute, explanations) and by campaign (a status
    # change). No key: touch event ids are unique by the ingestion's fact keys and each touch
    # is written once (ADR 0007), and a (timeline_id, event_id) key cost a catch-up ~1 µs a
    # row for no query (issue 3: catch-up >= 20,000 events/s).
    "CREATE TABLE IF NOT EXISTS {s}.attribution_touches (timeline_id uuid NOT NULL, "
    "event_id text NOT NULL, campaign_id text NOT NULL, kind text NOT NULL, "
    "occurred_at timestamptz NOT NULL, seq bigint NOT NULL)",
    "CREATE INDEX IF NOT EXISTS attribution_touches_member ON {s}.attribution_touches "
    "(timeline_id)",
    # A campaign's status change recomputes the members with touches of it from then on.
    "CREATE INDEX IF NOT EXISTS attribution_touches_campaign ON {s}.attribution_touches "
    "(campaign_id, occurred_at)",
    # The JSON columns are only ever read whole (as text), never queried into: json keeps the
    # text as written, where jsonb's parse cost the conversions' COPY most of its time.
    "CREATE TABLE IF NOT EXISTS {s}.attribution_conversions (tag_id text NOT NULL, "
    "event_id text NOT NULL, timeline_id uuid NOT NULL, member_id text NOT NULL, "
    "action_id text NOT NULL, category text, occurred_at timestamptz NOT NULL, "
    "seq bigint NOT NULL, own_value json, rules json, source text NOT NULL, "
    "recorded_at timestamptz NOT NULL, status text NOT NULL, credits json NOT NULL, "
    "value_minor bigint, currency text, PRIMARY KEY (tag_id, event_id))",
    "CREATE INDEX IF NOT EXISTS attribution_conversions_member ON "
    "{s}.attribution_conversions (timeline_id)",
    # The read API pages newest first on (occurred_at, event_id, tag_id).
    "CREATE INDEX IF NOT EXISTS attribution_conversions_time ON {s}.attribution_conversions "
    "(occurred_at DESC, event_id DESC, tag_id DESC)",
    "CREATE INDEX IF NOT EXISTS attribution_conversions_pending ON "
    "{s}.attribution_conversions (action_id) WHERE rules IS NULL",
    # `value_minor` is the credit's share of the value; `credit` its share of the conversion
    # (1 for a whole credit), which reports add up (ADR 0035: fractional models).
    "CREATE TABLE IF NOT EXISTS {s}.attribution_credits (tag_id text NOT NULL, "
    "event_id text NOT NULL, campaign_id text NOT NULL, action_id text NOT NULL, "
    "category text, day date NOT NULL, kind text NOT NULL, value_minor bigint, currency text, "
    "credit double precision NOT NULL DEFAULT 1, PRIMARY KEY (tag_id, event_id, campaign_id))",
    # Tables created before fractional models: every credit they hold is a whole one.
    "ALTER TABLE {s}.attribution_credits ADD COLUMN IF NOT EXISTS credit double precision "
    "NOT NULL DEFAULT 1",
    "CREATE INDEX IF NOT EXISTS attribution_credits_day ON {s}.attribution_credits (day)",
    "CREATE TABLE IF NOT EXISTS {s}.attribution_actions (action_id text PRIMARY KEY, "
    "tag_id text NOT NULL, settings jsonb NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}.attribution_campaigns (campaign_id text PRIMARY KEY, "
    "owner_account_id text NOT NULL, history jsonb NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}.attribution_spend (campaign_id text NOT NULL, "
    "day date NOT NULL, amount_minor bigint NOT NULL, currency text NOT NULL, "
    "PRIMARY KEY (campaign_id, day))",
]

_AUDIT = [
    "CREATE TABLE IF NOT EXISTS {s}.audit_events (position bigint PRIMARY KEY, "
    "aggregate_id text NOT NULL, type text NOT NULL, occurred_at timestamptz NOT NULL, "
    "recorded_at timestamptz NOT NULL, actor text NOT NULL, data jsonb NOT NULL, "
    "account_id text, tag_id text)",
    "CREATE INDEX IF NOT EXISTS audit_events_aggregate ON {s}.audit_events (aggregate_id)",
    "CREATE INDEX IF NOT EXISTS audit_events_account ON {s}.audit_events (account_id)",
    "CREATE INDEX IF NOT EXISTS audit_events_tag ON {s}.audit_events (tag_id)",
    "CREATE TABLE IF NOT EXISTS {s}.audit_scopes (aggregate_id text PRIMARY KEY, "
    "account_id text, tag_id text)",
]


def _statements(schema: str, texts: list[str]) -> list[sql.Composable]:
    return [sql.SQL(text.replace("{s}", "{}")).format(sql.Identifier(schema)) for text in texts]


def create_read_models(pool: ConnectionPool, schema: str) -> None:
    """Create every read-model table that is missing (idempotent, safe to run concurrently)."""
    statements: list[sql.Composable] = [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)),
        *tracking_ddl(schema, "attribution"), *_statements(schema, _ATTRIBUTION),
        *tracking_ddl(schema, "audit"), *_statements(schema, _AUDIT),
    ]
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        for statement in statements:
            conn.execute(statement)  # type: ignore[call-overload]
