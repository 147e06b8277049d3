"""Planner statistics kept by the read side where autovacuum may be off (ADR 0015)."""

from __future__ import annotations

import time

import psycopg

from adapters.bootstrap import Container
from adapters.postgres.statistics import LOCK_CLASS, StatisticsKeeper
from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime
from tests.adapters.read_side_support import record_touches


def estimated_rows(database_url: str, schema: str, event_ids: list[str]) -> float:
    """The planner's estimate for the ingestion's fact-key look-up of these ids."""
    with psycopg.connect(database_url) as conn:
        plan = conn.execute(
            f'EXPLAIN (FORMAT JSON) SELECT * FROM "{schema}".fact_keys '
            "WHERE scope = 'touch' AND event_id = ANY(%s)", (event_ids,)).fetchone()
    assert plan is not None
    return float(plan[0][0]["Plan"]["Plan Rows"])


def without_autovacuum(database_url: str, schema: str) -> None:
    """As on a server with autovacuum off, whatever this server's setting."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in ("fact_keys", "ingestion_events"):
            conn.execute(f'ALTER TABLE "{schema}".{name} SET (autovacuum_enabled = false)')


def analysed_within(keeper: StatisticsKeeper, seconds: float) -> list[str]:
    """What the keeper analyses once the server's activity counters have caught up."""
    deadline = time.monotonic() + seconds
    while not (tables := keeper.analyse_due()) and time.monotonic() < deadline:
        time.sleep(0.2)  # backends report their row counts to the statistics about once a second
    return tables


def test_tables_that_grew_are_analysed_once_and_lookups_are_then_estimated_by_key(
        pg_container: Container, database_url: str, pg_schema: str) -> None:
    without_autovacuum(database_url, pg_schema)
    record_touches(pg_container, 3000, per_batch=1000)
    with psycopg.connect(database_url) as conn:
        ids = [r[0] for r in conn.execute(
            f'SELECT event_id FROM "{pg_schema}".fact_keys LIMIT 10').fetchall()]
    # Never analysed, PostgreSQL 15 guesses that a large share of the table matches (2,411 of
    # 600,000 rows for 500 keys, read through the whole index); newer versions may guess well.
    keeper = StatisticsKeeper(database_url, pg_schema)
    analysed = analysed_within(keeper, 10)

    assert {"fact_keys", "ingestion_events"} <= set(analysed)
    assert estimated_rows(database_url, pg_schema, ids) <= 20
    assert keeper.analyse_due() == []  # nothing changed since


def test_tables_of_other_applications_in_the_schema_are_left_alone(
        pg_container: Container, database_url: str, pg_schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".orders (id int) '
                     "WITH (autovacuum_enabled = false)")
        conn.execute(f'INSERT INTO "{pg_schema}".orders SELECT generate_series(1, 20000)')
    assert "orders" not in StatisticsKeeper(database_url, pg_schema).analyse_due()
    assert not last_analysed(database_url, pg_schema, "orders")


def test_two_keepers_of_one_schema_never_analyse_at_the_same_time(
        pg_container: Container, database_url: str, pg_schema: str) -> None:
    without_autovacuum(database_url, pg_schema)
    record_touches(pg_container, 1500, per_batch=500)
    keeper = StatisticsKeeper(database_url, pg_schema)
    with psycopg.connect(database_url, autocommit=True) as other:
        # Another keeper holds the lock: this one skips its turn instead of waiting.
        other.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, pg_schema))
        assert keeper.analyse_due() == []
        other.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_CLASS, pg_schema))
    assert "fact_keys" in analysed_within(keeper, 10)


def test_the_read_side_analyses_the_tables_it_needs_even_while_nats_is_unreachable(
        pg_container: Container, database_url: str, pg_schema: str) -> None:
    without_autovacuum(database_url, pg_schema)
    record_touches(pg_container, 1500, per_batch=500)
    # Nothing listens on this port: the relay and workers wait for NATS, statistics do not.
    runtime = ReadSideRuntime(pg_container.read_side, [], "nats://127.0.0.1:1", ReadSideOptions(
        statistics_interval=0.2)).start()
    try:
        deadline = time.monotonic() + 10
        while not last_analysed(database_url, pg_schema, "fact_keys"):
            assert time.monotonic() < deadline, "fact_keys was never analysed"
            time.sleep(0.1)
    finally:
        runtime.stop()


def last_analysed(database_url: str, schema: str, name: str) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT last_analyze FROM pg_stat_user_tables "
                           "WHERE schemaname = %s AND relname = %s", (schema, name)).fetchone()
    return bool(row and row[0])
