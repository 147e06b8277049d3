"""Conversion reports: credits added up per group, with spend, cost per conversion and ROAS.

The attribution projection keeps one credit row per counted credit and the campaigns' daily
spend; a report groups them (docs/api.md: GET /v1/reports/conversions). Decisions (ADR 0011):
- `conversions` counts distinct conversions in a group: grouped by campaign, a conversion
  credited to two campaigns counts in both (docs/attribution.md: totals may exceed the distinct
  conversions); not grouped by campaign, it counts once. `post_click` / `post_view` count the
  conversions of the group with a credit of that kind. Only attributed conversions are counted.
- Values are summed per currency; a group whose values are in several currencies gives one row
  per currency (valueless conversions in a row of their own, currency null).
- Spend is per campaign and day, so spend, cost per conversion and ROAS are given only when the
  grouping has `campaign` and nothing finer than campaign and day (no share of a campaign's
  spend is allocated to actions, kinds or categories); otherwise they are null. A visible
  campaign with spend but no conversion in the range still gets a row.
- cost_per_conversion_minor = spend / conversions, in minor units rounded half up (null with no
  conversions); roas = value / spend when the currencies agree (0 with no valued conversions),
  null when they differ or there is no spend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from projections.attribution.records import CreditRow

GROUP_KEYS = {"campaign": "campaign_id", "action": "action_id", "day": "day", "kind": "kind",
              "category": "category"}
SPEND_GROUPINGS = frozenset({"campaign", "day"})


@dataclass(frozen=True)
class ReportRequest:
    """A report's scope: the caller's visible tags and campaigns, the days, the grouping."""

    tag_ids: frozenset[str]
    campaign_ids: frozenset[str]  # whose spend the caller may see
    day_from: date | None
    day_to: date | None  # inclusive
    group_by: tuple[str, ...]

    @property
    def with_spend(self) -> bool:
        """Whether spend is reported (see the module docstring)."""
        return "campaign" in self.group_by and set(self.group_by) <= SPEND_GROUPINGS


@dataclass(frozen=True)
class GroupTotals:
    """Sums of one group in one value currency (None: the group's valueless conversions)."""

    keys: tuple[str | None, ...]
    currency: str | None
    conversions: int
    post_click: int
    post_view: int
    value_minor: int


@dataclass
class ReportRow:
    """One row of a conversion report."""

    keys: dict[str, str | None]
    conversions: int = 0
    post_click: int = 0
    post_view: int = 0
    value_minor: int = 0
    currency: str | None = None
    spend_minor: int | None = None
    cost_per_conversion_minor: int | None = None
    roas: float | None = None


class ReportQueries(ABC):
    """What the read API asks for reports."""

    @abstractmethod
    def report(self, request: ReportRequest) -> list[ReportRow]:
        """The report's rows, ordered by their keys."""


def group_key(row: CreditRow, group_by: tuple[str, ...]) -> tuple[str | None, ...]:
    """A credit's values of the group-by keys (days as YYYY-MM-DD)."""
    values = []
    for name in group_by:
        value = getattr(row, GROUP_KEYS[name])
        values.append(value.isoformat() if isinstance(value, date) else value)
    return tuple(values)


def total_credits(rows: Iterable[CreditRow], group_by: tuple[str, ...]) -> list[GroupTotals]:
    """The in-memory GROUP BY: each conversion once per group, its kinds and its value."""
    per_conversion: dict[tuple[tuple[str | None, ...], str, str], list[CreditRow]] = \
        defaultdict(list)
    for row in rows:
        per_conversion[(group_key(row, group_by), row.tag_id, row.event_id)].append(row)
    sums: dict[tuple[tuple[str | None, ...], str | None], list[int]] = {}
    for (keys, _, _), credits in per_conversion.items():
        first = credits[0]
        total = sums.setdefault((keys, first.currency), [0, 0, 0, 0])
        total[0] += 1
        total[1] += any(c.kind == "post_click" for c in credits)
        total[2] += any(c.kind == "post_view" for c in credits)
        total[3] += first.value_minor or 0
    return [GroupTotals(keys, currency, *totals) for (keys, currency), totals in sums.items()]


def assemble(request: ReportRequest, totals: Iterable[GroupTotals],
             spend: Mapping[tuple[str, ...], tuple[int, str]]) -> list[ReportRow]:
    """Rows from the group totals and the spend per (campaign[, day]) (see the docstring)."""
    group_by = request.group_by
    grouped: dict[tuple[str | None, ...], list[GroupTotals]] = defaultdict(list)
    for total in totals:
        grouped[total.keys].append(total)
    if request.with_spend:
        for spend_key in spend:
            grouped.setdefault(spend_key, [])
    if not group_by:
        grouped.setdefault((), [])
    rows: list[ReportRow] = []
    for keys, parts in grouped.items():
        row_keys = dict(zip(group_by, keys, strict=True))
        currencies = {p.currency for p in parts if p.currency is not None}
        if len(currencies) <= 1:
            rows.append(_row(row_keys, parts, next(iter(currencies), None)))
        else:
            # Several currencies cannot be summed: one row each (ADR 0011).
            rows.extend(_row(row_keys, [p], p.currency) for p in parts)
    if request.with_spend:
        for row in rows:
            key = tuple(str(row.keys[name]) for name in group_by)
            _add_spend(row, spend.get(key))
    rows.sort(key=lambda r: (tuple(str(r.keys[n] or "") for n in group_by), r.currency or ""))
    return rows


def _row(keys: dict[str, str | None], parts: list[GroupTotals], currency: str | None
         ) -> ReportRow:
    return ReportRow(keys=keys, conversions=sum(p.conversions for p in parts),
                     post_click=sum(p.post_click for p in parts),
                     post_view=sum(p.post_view for p in parts),
                     value_minor=sum(p.value_minor for p in parts), currency=currency)


def _add_spend(row: ReportRow, spend: tuple[int, str] | None) -> None:
    amount, currency = spend if spend is not None else (0, row.currency)
    row.spend_minor = amount
    if row.currency is None:
        row.currency = currency
    if row.conversions:
        # Integer minor units, rounded half up (ADR 0011).
        row.cost_per_conversion_minor = (2 * amount + row.conversions) // (2 * row.conversions)
    if amount > 0 and currency == row.currency:
        row.roas = round(row.value_minor / amount, 6)


def spend_totals(spend: Mapping[tuple[str, str], tuple[int, str]], request: ReportRequest
                 ) -> dict[tuple[str, ...], tuple[int, str]]:
    """Spend per (campaign) or (campaign, day), in range, of the caller's campaigns."""
    totals: dict[tuple[str, ...], tuple[int, str]] = {}
    by_day = "day" in request.group_by
    for (campaign_id, day), (amount, currency) in spend.items():
        if campaign_id not in request.campaign_ids:
            continue
        if (request.day_from and day < request.day_from.isoformat()) or \
                (request.day_to and day > request.day_to.isoformat()):
            continue
        key = tuple(campaign_id if n == "campaign" else day for n in request.group_by) \
            if by_day else (campaign_id,)
        previous = totals.get(key, (0, currency))
        totals[key] = (previous[0] + amount, currency)
    return totals
