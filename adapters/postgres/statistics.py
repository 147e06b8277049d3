"""Planner statistics for convtrack's tables, kept current even where autovacuum is off.

Every hot query looks rows up by key among a batch: `= ANY(array)` of ~10-1,000 ids. Without
statistics PostgreSQL assumes a large share of the table matches and scans all of it: measured
on 1,000,000 events in a never-analysed schema, the ingestion's head query (one per batch) ran
as a parallel sequential scan of the event table (200 ms), the fact-key lookup read the whole
key index (250 ms), and the attribution projection's fact reads scanned the touches and
conversions (75-120 ms per batch), so everything slowed down linearly as the store grew.
Autovacuum would analyse the tables, but it may be off (it is on the CI machine) or lag behind
a catch-up that grows a table tenfold in a minute; so the read side analyses, with
autovacuum's own rule, each of convtrack's tables that changed by more than
`base + fraction × rows` since its last analyse (ADR 0015).
"""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg
from psycopg import sql

_log = logging.getLogger("convtrack.statistics")

# convtrack's own tables (LIKE patterns): the schema may be shared with other applications'
# tables (`public` by default), which are none of the keeper's business.
TABLES = ("management_events", "ingestion_events", "fact\\_%", "dead\\_letters",
          "relay\\_positions", "projection\\_workers", "attribution\\_%", "audit\\_%")

# Advisory lock (this class, hashtext(schema)): one keeper at a time per schema analyses, the
# others skip a turn.
LOCK_CLASS = 0x63737461  # "csta"


class StatisticsKeeper:
    """Analyses convtrack's tables in one schema that changed much since their last analyse."""

    def __init__(self, database_url: str, schema: str, *, base: int = 1000,
                 fraction: float = 0.1) -> None:
        self.database_url = database_url
        self.schema = schema
        self.base = base
        self.fraction = fraction

    def due(self, conn: psycopg.Connection) -> list[str]:
        """The tables of the schema whose changes since their last analyse pass the rule."""
        # Rows changed (as reported by the server's activity statistics, which idle backends
        # flush only every ~10 s), or the table's size grown past the same share of its size
        # at its last analyse (known at once: what a catch-up mostly does is append).
        rows = conn.execute(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.schemaname = %(schema)s AND s.relname LIKE ANY(%(tables)s) "
            "AND (s.n_mod_since_analyze > "
            "%(base)s + %(fraction)s * greatest(c.reltuples, 0) OR pg_relation_size(c.oid) > "
            "8192 * (8 + (1 + %(fraction)s) * c.relpages)) ORDER BY s.relname",
            {"schema": self.schema, "tables": list(TABLES), "base": self.base,
             "fraction": self.fraction}).fetchall()
        return [str(name) for (name,) in rows]

    def analyse_due(self) -> list[str]:
        """Analyse what is due (unless another keeper is at it); the tables analysed."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            locked = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                  (LOCK_CLASS, self.schema)).fetchone()
            if not locked or not locked[0]:
                return []
            try:
                tables = self.due(conn)
                for name in tables:
                    began = time.perf_counter()
                    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(self.schema, name)))
                    _log.info("analysed %s.%s", self.schema, name,
                              extra={"schema": self.schema, "table": name,
                                     "seconds": round(time.perf_counter() - began, 3)})
                return tables
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                             (LOCK_CLASS, self.schema))

    async def run(self, interval: float = 5.0) -> None:
        """Check every `interval` seconds until cancelled; failures are logged and retried."""
        while True:
            try:
                await asyncio.to_thread(self.analyse_due)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                _log.warning("statistics check failed: %s", error, extra={"error": repr(error)})
            await asyncio.sleep(interval)
