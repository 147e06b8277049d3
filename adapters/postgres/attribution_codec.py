"""Rows of the attribution tables ↔ the read model's records.

JSON columns are read as text and decoded with msgspec, with a cache for the settings (a batch
loads thousands of conversions that share a handful of actions' settings).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import msgspec

from domain.attribution import ActionRules, Credit, Touch
from domain.values import Money
from projections.attribution.records import CampaignState, ConversionRecord, Outcome

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

CONVERSION_COLUMNS = ("tag_id, event_id, timeline_id::text, member_id, action_id, category, "
                      "occurred_at, seq, own_value::text, rules::text, source, recorded_at, "
                      "status, credits::text, value_minor, currency")
TOUCH_COLUMNS = "timeline_id::text, event_id, campaign_id, kind, occurred_at, seq"


def money_json(money: Money | None) -> str | None:
    """A Money as JSON text (None stays NULL)."""
    return None if money is None else _encode(money.as_dict()).decode()


def rules_json(rules: ActionRules | None) -> str | None:
    """The settings a conversion is attributed under, as JSON text."""
    if rules is None:
        return None
    return _encode({
        "action_id": rules.action_id, "click_window_days": rules.click_window_days,
        "view_window_days": rules.view_window_days, "counting": rules.counting,
        "attribution": rules.attribution, "campaign_ids": sorted(rules.campaign_ids),
        "value_mode": rules.value_mode,
        "value": None if rules.value is None else rules.value.as_dict(),
    }).decode()


def credits_json(credits: tuple[Credit, ...]) -> str:
    """Counted credits as JSON text: [campaign_id, kind, touch_event_id, touch_occurred_at],
    and the credit fifth when it is not a whole one (ADR 0035: rows written before fractional
    models, and every last-touch credit, keep the four-element form)."""
    return _encode([[c.campaign_id, c.kind, c.touch_event_id, c.touch_occurred_at.isoformat()]
                    if c.credit == 1.0 else
                    [c.campaign_id, c.kind, c.touch_event_id, c.touch_occurred_at.isoformat(),
                     c.credit]
                    for c in credits]).decode()


def credits_of(text: str) -> tuple[Credit, ...]:
    """Inverse of credits_json."""
    return tuple(Credit(c[0], c[1], c[2], datetime.fromisoformat(c[3]))
                 if len(c) == 4 else
                 Credit(c[0], c[1], c[2], datetime.fromisoformat(c[3]), float(c[4]))
                 for c in _decode(text))


def history_json(state: CampaignState) -> str:
    """A campaign's status history as JSON text."""
    return _encode([[at.isoformat(), status] for at, status in state.history]).decode()


def history_of(text: str) -> tuple[tuple[datetime, str], ...]:
    """Inverse of history_json."""
    return tuple((datetime.fromisoformat(at), status) for at, status in _decode(text))


class RowDecoder:
    """Decodes rows, remembering the settings it has seen."""

    def __init__(self) -> None:
        self._rules: dict[str, ActionRules] = {}

    def rules(self, text: str | None) -> ActionRules | None:
        """ActionRules from JSON text, decoded once per distinct text."""
        if text is None:
            return None
        found = self._rules.get(text)
        if found is None:
            data = _decode(text)
            # rules_json writes the settings' own names, so the domain's one mapping reads them.
            found = ActionRules.from_settings(data["action_id"], data)
            self._rules[text] = found
        return found

    def conversion(self, row: tuple[Any, ...]) -> ConversionRecord:
        """A ConversionRecord from a row of CONVERSION_COLUMNS."""
        (tag_id, event_id, timeline_id, member_id, action_id, category, occurred_at, seq,
         own_value, rules, source, recorded_at, status, credits, value_minor, currency) = row
        outcome = Outcome(
            status,
            credits_of(credits),
            None if value_minor is None else Money(value_minor, currency))
        return ConversionRecord(
            tag_id=tag_id, event_id=event_id, timeline_id=timeline_id, member_id=member_id,
            action_id=action_id, category=category, occurred_at=occurred_at, seq=seq,
            own_value=None if own_value is None else Money.from_dict(_decode(own_value)),
            rules=self.rules(rules), source=source, recorded_at=recorded_at, outcome=outcome)

    @staticmethod
    def touch(row: tuple[Any, ...]) -> tuple[str, Touch]:
        """(timeline id, Touch) from a row of TOUCH_COLUMNS."""
        timeline_id, event_id, campaign_id, kind, occurred_at, seq = row
        return timeline_id, Touch(event_id, campaign_id, kind, occurred_at, seq)


def conversion_row(record: ConversionRecord) -> tuple[Any, ...]:
    """The row of a new conversion, in CONVERSION_COLUMNS order."""
    value = record.outcome.value
    return (record.tag_id, record.event_id, record.timeline_id, record.member_id,
            record.action_id, record.category, record.occurred_at, record.seq,
            money_json(record.own_value), rules_json(record.rules), record.source,
            record.recorded_at, record.outcome.status, credits_json(record.outcome.credits),
            None if value is None else value.amount_minor,
            None if value is None else value.currency)


# COPY's text format: backslash, tab, newline and carriage return are escaped; NULL is \N.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        # Ids and JSON rarely hold a control character or a backslash: skip the translate then.
        if value.isprintable() and "\\" not in value:
            return value
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def copy_text(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """Rows in COPY's text format: several times faster than psycopg's write_row per row."""
    lines = ["\t".join(map(_copy_field, row)) for row in rows]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def settings_json(settings: Any) -> str:
    """An action's settings as JSON text."""
    return _encode(dict(settings)).decode()


def settings_of(text: str) -> dict[str, Any]:
    """Inverse of settings_json."""
    result: dict[str, Any] = _decode(text)
    return result
