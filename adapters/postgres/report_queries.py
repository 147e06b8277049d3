"""Conversion reports in PostgreSQL: a GROUP BY over the credits, the spend beside it.

The SQL adds up; the rules for turning sums into rows (currencies, spend, cost per conversion,
ROAS) are the pure `projections.reporting.assemble`, shared with the in-memory store.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import sql
from psycopg_pool import ConnectionPool

from adapters.postgres.read_models import table
from projections.reporting import (
    GROUP_KEYS,
    GroupTotals,
    ReportQueries,
    ReportRequest,
    ReportRow,
    assemble,
)


class PostgresReportQueries(ReportQueries):
    """Reports over the attribution tables of one schema."""

    def __init__(self, pool: ConnectionPool, schema: str) -> None:
        self.pool = pool
        self._credits = table(schema, "attribution_credits")
        self._spend = table(schema, "attribution_spend")

    def report(self, request: ReportRequest) -> list[ReportRow]:
        with self.pool.connection() as conn:
            totals = [GroupTotals(tuple(_text(k) for k in row[:-5]), *row[-5:])
                      for row in conn.execute(*self._totals_query(request)).fetchall()]
            spend: dict[tuple[str, ...], tuple[int, str]] = {}
            if request.with_spend:
                for *keys, amount, currency in conn.execute(*self._spend_query(request)):
                    spend[tuple(_text(k) or "" for k in keys)] = (int(amount), currency)
        return assemble(request, totals, spend)

    def _totals_query(self, request: ReportRequest) -> tuple[sql.Composed, list[Any]]:
        # Group-by names come from GROUP_KEYS only (the adapter rejects anything else).
        keys = [sql.Identifier(GROUP_KEYS[name]) for name in request.group_by]
        inner_keys = sql.SQL("").join(sql.SQL("{}, ").format(k) for k in keys)
        where, params = _range(request, "day")
        where.insert(0, sql.SQL("tag_id = ANY(%s)"))
        params.insert(0, list(request.tag_ids))
        # Each conversion once per group: its kinds, and its value (the same on each credit).
        query = sql.SQL(
            "WITH per_conversion AS (SELECT {keys} tag_id, event_id, "
            "bool_or(kind = 'post_click') AS pc, bool_or(kind = 'post_view') AS pv, "
            "max(value_minor) AS v, max(currency) AS cur FROM {credits} WHERE {where} "
            "GROUP BY {keys} tag_id, event_id) "
            "SELECT {keys} cur, count(*), count(*) FILTER (WHERE pc), "
            "count(*) FILTER (WHERE pv), coalesce(sum(v), 0)::bigint FROM per_conversion "
            "GROUP BY {keys} cur").format(keys=inner_keys, credits=self._credits,
                                          where=sql.SQL(" AND ").join(where))
        return query, params

    def _spend_query(self, request: ReportRequest) -> tuple[sql.Composed, list[Any]]:
        columns = [sql.Identifier("campaign_id" if n == "campaign" else "day")
                   for n in request.group_by]
        keys = sql.SQL(", ").join(columns)
        where, params = _range(request, "day")
        where.insert(0, sql.SQL("campaign_id = ANY(%s)"))
        params.insert(0, list(request.campaign_ids))
        query = sql.SQL("SELECT {keys}, sum(amount_minor)::bigint, max(currency) FROM {spend} "
                        "WHERE {where} GROUP BY {keys}").format(
                            keys=keys, spend=self._spend, where=sql.SQL(" AND ").join(where))
        return query, params


def _range(request: ReportRequest, column: str) -> tuple[list[sql.Composable], list[Any]]:
    where: list[sql.Composable] = []
    params: list[Any] = []
    if request.day_from is not None:
        where.append(sql.SQL("{} >= %s").format(sql.Identifier(column)))
        params.append(request.day_from)
    if request.day_to is not None:
        where.append(sql.SQL("{} <= %s").format(sql.Identifier(column)))
        params.append(request.day_to)
    return where, params


def _text(value: Any) -> str | None:
    if isinstance(value, date):
        return value.isoformat()
    return None if value is None else str(value)
