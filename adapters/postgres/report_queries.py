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
            spend: dict[tuple[str, ...], tuple[int, str | None]] = {}
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
        # Each conversion once per group: its credits there added up, at most 1, per kind too;
        # its value once when its credits there are whole (each carries all of it), else its
        # credits' shares added up (projections.reporting: conversion_share, conversion_value).
        query = sql.SQL(
            "WITH per_conversion AS (SELECT {keys} tag_id, event_id, "
            "round(least(1, sum(credit))::numeric, 12) AS n, "
            # least() skips a NULL: a conversion without credits of a kind must add 0, not 1.
            "round(least(1, coalesce(sum(credit) FILTER (WHERE kind = 'post_click'), 0))"
            "::numeric, 12) AS pc, "
            "round(least(1, coalesce(sum(credit) FILTER (WHERE kind = 'post_view'), 0))"
            "::numeric, 12) AS pv, "
            "CASE WHEN bool_and(credit = 1) THEN max(value_minor) ELSE sum(value_minor) END AS v, "
            "max(currency) AS cur FROM {credits} WHERE {where} "
            "GROUP BY {keys} tag_id, event_id) "
            "SELECT {keys} cur, sum(n), sum(pc), sum(pv), "
            "coalesce(sum(v), 0)::bigint FROM per_conversion "
            "GROUP BY {keys} cur").format(keys=inner_keys, credits=self._credits,
                                          where=sql.SQL(" AND ").join(where))
        return query, params

    def _spend_query(self, request: ReportRequest) -> tuple[sql.Composed, list[Any]]:
        columns: list[sql.Composable] = [
            sql.Identifier("campaign_id" if n == "campaign" else "day") for n in request.group_by]
        where, params = _range(request, "day")
        where.insert(0, sql.SQL("campaign_id = ANY(%s)"))
        params.insert(0, list(request.campaign_ids))
        # Totals and days add up several campaigns: a currency only when they share one
        # (projections.reporting: spends in several currencies are never added).
        measures = [sql.SQL("sum(amount_minor)::bigint"),
                    sql.SQL("CASE WHEN count(DISTINCT currency) = 1 THEN max(currency) END")]
        group = sql.SQL(" GROUP BY {}").format(sql.SQL(", ").join(columns)) if columns \
            else sql.SQL(" HAVING count(*) > 0")
        query = sql.SQL("SELECT {select} FROM {spend} WHERE {where}{group}").format(
            select=sql.SQL(", ").join([*columns, *measures]), spend=self._spend,
            where=sql.SQL(" AND ").join(where), group=group)
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
