"""Read-model records → read-side response shapes, and the read side's query parameters."""

from __future__ import annotations

import base64
import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import msgspec
from litestar.params import Parameter

from adapters.http.errors import BadRequest
from adapters.http.read_schemas import (
    CandidateOut,
    ConversionOut,
    CountingOut,
    CreditOut,
    ExplanationOut,
    LedgerCopyOut,
    LedgerOut,
    ReportRowOut,
    SettingsOut,
)
from adapters.http.schemas import MoneyOut
from application.fact_ledger import DuplicateEntry
from application.read_service import ReportNames
from domain.attribution import ActionRules, Credit
from domain.member_timeline import conversion_scope
from domain.values import Money
from projections.attribution.explanation import Explanation
from projections.attribution.records import ConversionRecord, credit_value
from projections.reporting import GROUP_KEYS, ReportRow, as_number

# The read endpoints' shared query parameters.
MAX_PAGE = 1000
Limit = Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="Page size (default 100)")]
From = Annotated[str | None, Parameter(query="from", description="RFC 3339 time or YYYY-MM-DD")]
To = Annotated[str | None, Parameter(query="to", description="RFC 3339 time or YYYY-MM-DD "
                                                            "(a day includes all of it)")]


def bad_parameter(field: str, detail: str) -> BadRequest:
    """A 400 naming the query parameter (the same shape litestar's own checks give)."""
    return BadRequest(400, "invalid_parameter", detail, field)


def parse_instant(value: str | None, field: str, *, end: bool = False) -> datetime | None:
    """RFC 3339 or a date; a date as `to` means the end of that day (exclusive bound)."""
    if value is None or value == "":
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise bad_parameter(field, f"{field} must be an RFC 3339 time or a date") from None
        if moment.utcoffset() is None:
            raise bad_parameter(field, f"{field} needs an offset, e.g. 2026-03-01T12:00:00Z")
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
            raise bad_parameter(field, f"{field} is outside years 1 to 9999 in UTC") from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if not end:
        return start
    # The end of 9999-12-31 is past the last datetime: no upper bound at all.
    return start + timedelta(days=1) if day < date.max else None


def parse_day(value: str | None, field: str) -> date | None:
    """A report bound: YYYY-MM-DD (docs/api.md: days in UTC)."""
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad_parameter(field, f"{field} must be a day, YYYY-MM-DD") from None


def parse_group_by(value: str | None) -> tuple[str, ...]:
    """The comma-separated group-by names, each known and given once."""
    names = tuple(n.strip() for n in (value or "").split(",") if n.strip())
    unknown = [n for n in names if n not in GROUP_KEYS]
    if unknown:
        raise bad_parameter("group_by", f"unknown group_by {unknown[0]!r}; use any of "
                                        f"{', '.join(GROUP_KEYS)}")
    if len(set(names)) != len(names):
        raise bad_parameter("group_by", "each group_by name may be given once")
    return names


def encode_cursor(record: ConversionRecord) -> str:
    """An opaque keyset cursor after this conversion."""
    raw = msgspec.json.encode([record.occurred_at.isoformat(), record.event_id, record.tag_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str, str] | None:
    """Inverse of encode_cursor; 400 for anything else."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, event_id, tag_id = msgspec.json.decode(raw, type=tuple[str, str, str])
        return datetime.fromisoformat(at), event_id, tag_id
    except (ValueError, msgspec.DecodeError, TypeError):
        raise bad_parameter("cursor", "not a cursor this API gave out") from None


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def money_out(money: Money | None) -> MoneyOut | None:
    """Money as docs/api.md shows it."""
    return None if money is None else MoneyOut(money.amount_minor, money.currency)


def credit_out(credit: Credit, value: Money | None) -> CreditOut:
    """A counted credit, with its share of the conversion's value."""
    return CreditOut(credit.campaign_id, credit.kind, credit.touch_event_id,  # type: ignore[arg-type]
                     _utc(credit.touch_occurred_at), credit.credit, credit_value(value, credit))


def conversion_out(record: ConversionRecord) -> ConversionOut:
    """A conversion as GET /v1/conversions lists it."""
    outcome = record.outcome
    return ConversionOut(
        event_id=record.event_id, action_id=record.action_id, member_id=record.member_id,
        occurred_at=_utc(record.occurred_at), status=outcome.status,  # type: ignore[arg-type]
        attributions=[credit_out(c, outcome.value) for c in outcome.credits],
        value=money_out(outcome.value),
        tag_id=record.tag_id, category=record.category, source=record.source)


def settings_out(rules: ActionRules | None) -> SettingsOut | None:
    """The settings a conversion is attributed under."""
    if rules is None:
        return None
    return SettingsOut(rules.action_id, rules.click_window_days, rules.view_window_days,
                       rules.counting, rules.attribution, sorted(rules.campaign_ids),
                       rules.value_mode, money_out(rules.value))


def explanation_out(explanation: Explanation, duplicates: list[DuplicateEntry]) -> ExplanationOut:
    """The explanation with the conversion's ledger entries."""
    record = explanation.record
    candidates = [] if explanation.attribution is None else [
        CandidateOut(v.touch.event_id, v.touch.campaign_id, v.touch.kind,  # type: ignore[arg-type]
                     _utc(v.touch.occurred_at), v.verdict, v.detail)
        for v in explanation.attribution.candidates]
    ledger = LedgerOut(
        scope=conversion_scope(record.tag_id),
        recorded=LedgerCopyOut(record.source, _utc(record.recorded_at)),
        duplicates=[LedgerCopyOut(d.source, _utc(d.received_at), d.payload) for d in duplicates])
    return ExplanationOut(
        event_id=record.event_id, tag_id=record.tag_id, action_id=record.action_id,
        member_id=record.member_id, occurred_at=_utc(record.occurred_at),
        status=record.outcome.status, summary=explanation.summary,  # type: ignore[arg-type]
        steps=list(explanation.steps), settings=settings_out(record.rules),
        own_value=money_out(record.own_value), value=money_out(record.outcome.value),
        attributions=[credit_out(c, record.outcome.value) for c in record.outcome.credits],
        candidates=candidates,
        counting=CountingOut(record.rules.counting if record.rules else None,
                             explanation.counting),
        ledger=ledger, other_touches=explanation.other_touches)


def _names(row: ReportRow, names: ReportNames | None) -> dict[str, str | None]:
    """The row's campaign and action names, for the keys it is grouped by."""
    found: dict[str, str | None] = {}
    if names is not None and "campaign" in row.keys:
        found["campaign_name"] = names.campaigns.get(str(row.keys["campaign"]))
    if names is not None and "action" in row.keys:
        found["action_name"] = names.actions.get(str(row.keys["action"]))
    return found


def report_row_out(row: ReportRow, names: ReportNames | None = None) -> ReportRowOut:
    """A report row with only its group-by keys (and the names of its campaign and action)."""
    keys: dict[str, str | None] = {GROUP_KEYS[name]: value for name, value in row.keys.items()}
    keys |= _names(row, names)
    return ReportRowOut(conversions=as_number(row.conversions),
                        post_click=as_number(row.post_click),
                        post_view=as_number(row.post_view), value_minor=row.value_minor,
                        currency=row.currency, spend_minor=row.spend_minor,
                        cost_per_conversion_minor=row.cost_per_conversion_minor, roas=row.roas,
                        **keys)


_MEASURES = ("conversions", "post_click", "post_view", "value_minor", "currency", "spend_minor",
             "cost_per_conversion_minor", "roas")


def report_csv(rows: list[ReportRow], group_by: tuple[str, ...],
               names: ReportNames | None = None) -> str:
    """The report as CSV: the group-by key columns, then the measures, then the campaign and
    action names when grouped by them (last, so the earlier columns keep their places); nulls
    are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends
    name_columns = [f"{n}_name" for n in ("campaign", "action") if n in group_by and names]
    writer.writerow([GROUP_KEYS[name] for name in group_by] + list(_MEASURES) + name_columns)
    for row in rows:
        counts = [as_number(c) for c in (row.conversions, row.post_click, row.post_view)]
        measures = [*counts, *(getattr(row, m) for m in _MEASURES[3:])]
        row_names = _names(row, names)
        writer.writerow([("" if row.keys[n] is None else row.keys[n]) for n in group_by]
                        + ["" if v is None else v for v in measures]
                        + [row_names.get(c) or "" for c in name_columns])
    return out.getvalue()
