"""The COPY text of one batch's new attribution rows, one f-string per row.

A catch-up batch writes ~1,000 rows; formatting them field by field through a generic
`copy_text` cost ~8 µs a touch (issue 3: catch-up at >= 20,000 events/s). Here each table's
row is one f-string, and the escaping COPY's text format needs (backslash, tab, newline,
carriage return) is checked once over all of a table's free-text values: when any holds one
of those characters, that table's rows go through the generic, escaping `copy_text` instead,
so the bytes PostgreSQL parses are the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

from adapters.postgres.attribution_codec import (
    conversion_row,
    copy_text,
    credits_json,
    money_json,
    rules_json,
)
from domain.attribution import ActionRules, Touch
from projections.attribution.records import ConversionRecord, credit_rows, credit_value

MEMBER_NAMES = ("timeline_id", "member_id")
TOUCH_NAMES = ("timeline_id", "event_id", "campaign_id", "kind", "occurred_at", "seq")
CREDIT_NAMES = ("tag_id", "event_id", "campaign_id", "action_id", "category", "day", "kind",
                  "value_minor", "currency", "credit")
_NULL = "\\N"


def _plain(probe: str) -> bool:
    """Whether text needs no escaping in COPY's text format."""
    return not ("\\" in probe or "\t" in probe or "\n" in probe or "\r" in probe)


def _bytes(lines: list[str]) -> bytes:
    return "".join(lines).encode() if lines else b""


def members_copy(members: Mapping[str, str]) -> bytes:
    """Rows of MEMBER_NAMES: (timeline id, member id)."""
    if not _plain("".join(members) + "".join(members.values())):
        return copy_text(members.items())
    return _bytes([f"{t}\t{m}\n" for t, m in members.items()])


def touches_copy(touches: list[tuple[str, Touch]]) -> bytes:
    """Rows of TOUCH_NAMES from (timeline id, touch) pairs."""
    text = "".join([f"{tl}\t{t.event_id}\t{t.campaign_id}\t{t.kind}\t{t.occurred_at.isoformat()}"
                    f"\t{t.seq}\n" for tl, t in touches])
    # Times and numbers never hold a separator or a backslash, so the text needs no escaping
    # exactly when it has one tab per separator, one newline per row and neither \\ nor \r.
    if text.count("\t") == 5 * len(touches) and text.count("\n") == len(touches) and \
            "\\" not in text and "\r" not in text:
        return text.encode()
    return copy_text((tl, t.event_id, t.campaign_id, t.kind, t.occurred_at, t.seq)
                     for tl, t in touches)


class RulesText:
    """The JSON of each ActionRules object met in a batch, encoded once (conversions share a
    handful of actions' settings)."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[ActionRules, str | None]] = {}

    def __call__(self, rules: ActionRules | None) -> str | None:
        """rules_json(rules), remembered by identity (the object is kept, so ids stay unique)."""
        found = self._texts.get(id(rules))
        if found is None:
            text = rules_json(rules)
            if rules is not None:
                self._texts[id(rules)] = (rules, text)
            return text
        return found[1]


def conversions_copy(records: list[ConversionRecord], rules_text: RulesText) -> bytes:
    """Rows of attribution_codec.CONVERSION_COLUMNS for new conversions."""
    lines: list[str] = []
    nulls = 0
    for r in records:
        outcome = r.outcome
        value = outcome.value
        own = money_json(r.own_value)
        rules = rules_text(r.rules)
        nulls += (r.category is None) + (own is None) + (rules is None) + 2 * (value is None)
        lines.append(
            f"{r.tag_id}\t{r.event_id}\t{r.timeline_id}\t{r.member_id}\t{r.action_id}\t"
            f"{_NULL if r.category is None else r.category}\t{r.occurred_at.isoformat()}\t"
            f"{r.seq}\t{_NULL if own is None else own}\t{_NULL if rules is None else rules}\t"
            f"{r.source}\t{r.recorded_at.isoformat()}\t{outcome.status}\t"
            f"{credits_json(outcome.credits)}\t{_NULL if value is None else value.amount_minor}\t"
            f"{_NULL if value is None else value.currency}\n")
    text = "".join(lines)
    # As for touches; here each NULL written is one backslash that is meant.
    if text.count("\t") == 15 * len(records) and text.count("\n") == len(records) and \
            text.count("\\") == nulls and "\r" not in text:
        return text.encode()
    return copy_text(conversion_row(r) for r in records)


def credits_copy(records: list[ConversionRecord]) -> bytes:
    """Rows of CREDIT_NAMES: one per counted credit of each conversion (credit_rows)."""
    lines: list[str] = []
    probes: list[str] = []
    for r in records:
        outcome = r.outcome
        if not outcome.credits:
            continue
        value = outcome.value
        currency = _NULL if value is None else value.currency
        head = f"{r.tag_id}\t{r.event_id}\t"
        tail = (f"\t{r.action_id}\t{_NULL if r.category is None else r.category}\t"
                f"{r.occurred_at.astimezone(UTC).date().isoformat()}\t")
        probes.append(f"{r.tag_id}{r.event_id}{r.action_id}{r.category}"
                      f"{None if value is None else value.currency}")
        for credit in outcome.credits:
            probes.append(credit.campaign_id + credit.kind)
            # Each credit's own share of the value (ADR 0035); str(float) is what copy_text writes.
            share = credit_value(value, credit)
            lines.append(f"{head}{credit.campaign_id}{tail}{credit.kind}\t"
                         f"{_NULL if share is None else share}\t{currency}\t{credit.credit}\n")
    if not _plain("".join(probes)):
        return copy_text(tuple(getattr(row, name) for name in CREDIT_NAMES)
                         for r in records for row in credit_rows(r))
    return _bytes(lines)
