"""Conversion reports: credits added up per group, with spend, cost per conversion and ROAS.

The attribution projection keeps one credit row per counted credit and the campaigns' daily
spend; a report groups them (docs/api.md: GET /v1/reports/conversions). Decisions (ADR 0011):
- `conversions` counts distinct conversions in a group: grouped by campaign, a conversion
  credited to two campaigns counts in both (docs/attribution.md: totals may exceed the distinct
  conversions); not grouped by campaign, it counts once. `post_click` / `post_view` count the
  conversions of the group with a credit of that kind. Only attributed conversions are counted.
- Under a fractional model a conversion counts in a group for the credits it has there, added
  up (ADR 0035): what a conversion adds to a group is the sum of its credits in the group, at
  most 1, to 12 decimals, so whole credits count as above and fractional ones add up to the
  whole conversion. Its value there is the sum of its credits' rounded shares, or, when every
  credit in the group is whole (each carries all of the value), the value once.
- Values are summed per currency; a group whose values are in several currencies gives one row
  per currency (valueless conversions in a row of their own, currency null).
- Spend is per campaign and day, so spend, cost per conversion and ROAS are given only when the
  grouping has nothing finer than campaign and day (no share of a campaign's spend is
  allocated to actions, kinds or categories); otherwise they are null. Totals and days without
  `campaign` add up the spend of every campaign the caller may see (ADR 0037), unless those
  spends are in several currencies (then null: currencies are never added). A visible
  campaign with spend but no conversion in the range still gets a row, and so does a day.
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
from decimal import ROUND_HALF_UP, Decimal

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
        return set(self.group_by) <= SPEND_GROUPINGS


@dataclass(frozen=True)
class GroupTotals:
    """Sums of one group in one value currency (None: the group's valueless conversions)."""

    keys: tuple[str | None, ...]
    currency: str | None
    conversions: Decimal
    post_click: Decimal
    post_view: Decimal
    value_minor: int


@dataclass
class ReportRow:
    """One row of a conversion report; the counts are exact decimals (as_number shows them)."""

    keys: dict[str, str | None]
    conversions: Decimal = Decimal(0)
    post_click: Decimal = Decimal(0)
    post_view: Decimal = Decimal(0)
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


_PLACES = Decimal("1e-12")


def conversion_share(credits: Iterable[float]) -> Decimal:
    """What one conversion adds to a group holding these of its credits (see the docstring).

    The same steps as PostgreSQL's `round(least(1, sum(credit))::numeric, 12)`: a float8
    becomes a numeric of 15 significant digits, which round() takes half away from zero. The
    rounding drops a float's last-place error, so three thirds count as exactly 1.
    """
    found = list(credits)
    if not found:
        return Decimal(0)
    return Decimal(f"{min(1.0, sum(found)):.15g}").quantize(_PLACES, ROUND_HALF_UP)


def conversion_value(credits: list[CreditRow]) -> int:
    """What one conversion adds to a group's value: all of it once when every credit there
    is whole, else its credits' shares added up (see the docstring)."""
    if all(c.credit == 1.0 for c in credits):
        return credits[0].value_minor or 0
    return sum(c.value_minor or 0 for c in credits)


def total_credits(rows: Iterable[CreditRow], group_by: tuple[str, ...]) -> list[GroupTotals]:
    """The in-memory GROUP BY: each conversion once per group, its kinds and its value."""
    per_conversion: dict[tuple[tuple[str | None, ...], str, str], list[CreditRow]] = \
        defaultdict(list)
    for row in rows:
        per_conversion[(group_key(row, group_by), row.tag_id, row.event_id)].append(row)
    sums: dict[tuple[tuple[str | None, ...], str | None], GroupTotals] = {}
    for (keys, _, _), credits in per_conversion.items():
        key = (keys, credits[0].currency)
        total = sums.get(key) or GroupTotals(keys, key[1], Decimal(0), Decimal(0), Decimal(0), 0)
        sums[key] = GroupTotals(
            keys, key[1], total.conversions + conversion_share(c.credit for c in credits),
            total.post_click + conversion_share(c.credit for c in credits
                                                if c.kind == "post_click"),
            total.post_view + conversion_share(c.credit for c in credits
                                               if c.kind == "post_view"),
            total.value_minor + conversion_value(credits))
    return list(sums.values())


def assemble(request: ReportRequest, totals: Iterable[GroupTotals],
             spend: Mapping[tuple[str, ...], tuple[int, str | None]]) -> list[ReportRow]:
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
    return ReportRow(keys=keys, conversions=sum((p.conversions for p in parts), Decimal(0)),
                     post_click=sum((p.post_click for p in parts), Decimal(0)),
                     post_view=sum((p.post_view for p in parts), Decimal(0)),
                     value_minor=sum(p.value_minor for p in parts), currency=currency)


def as_number(count: Decimal) -> int | float:
    """A report count for JSON and CSV: an integer when it is whole (always, under the
    last-touch models), else a float (ADR 0035)."""
    whole = count.to_integral_value()
    return int(whole) if count == whole else float(count)


def _add_spend(row: ReportRow, spend: tuple[int, str | None] | None) -> None:
    if spend is not None and spend[1] is None:
        return  # spend in several currencies: not added up, so no spend, cost or ROAS
    amount, currency = spend if spend is not None else (0, row.currency)
    row.spend_minor = amount
    if row.currency is None:
        row.currency = currency
    if row.conversions:
        # Integer minor units, rounded half up (ADR 0011); exact for fractional counts too.
        row.cost_per_conversion_minor = int((amount / row.conversions).quantize(
            Decimal(1), ROUND_HALF_UP))
    if amount > 0 and currency == row.currency:
        row.roas = round(row.value_minor / amount, 6)


def spend_totals(spend: Mapping[tuple[str, str], tuple[int, str]], request: ReportRequest
                 ) -> dict[tuple[str, ...], tuple[int, str | None]]:
    """Spend per group of campaign and day keys (or in total), in range, of the caller's
    campaigns; currency None where the spends added are in several currencies."""
    totals: dict[tuple[str, ...], tuple[int, str | None]] = {}
    for (campaign_id, day), (amount, currency) in spend.items():
        if campaign_id not in request.campaign_ids:
            continue
        if (request.day_from and day < request.day_from.isoformat()) or \
                (request.day_to and day > request.day_to.isoformat()):
            continue
        key = tuple(campaign_id if n == "campaign" else day for n in request.group_by)
        previous = totals.get(key, (0, currency))
        totals[key] = (previous[0] + amount, currency if previous[1] == currency else None)
    return totals
