"""The one-f-string COPY rows are byte for byte the generic, escaping copy_text rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.postgres.attribution_codec import conversion_row, copy_text
from adapters.postgres.attribution_copy import (
    CREDIT_NAMES,
    RulesText,
    conversions_copy,
    credits_copy,
    members_copy,
    touches_copy,
)
from domain.attribution import ActionRules, Credit, Touch
from domain.values import Money
from projections.attribution.records import ConversionRecord, Outcome, credit_rows

AT = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
RULES = ActionRules("a1", 30, 1, "one", "last_touch_each_campaign", frozenset({"c1", "c\\2"}),
                    "dynamic", Money(5, "EUR"))


def record(text: str, *, rules: ActionRules | None = RULES, value: Money | None = None,
           credits: int = 2, credit: float = 1.0) -> ConversionRecord:
    outcome = Outcome("attributed" if credits else "unattributed",
                      tuple(Credit(f"c{i}{text}", "post_click", f"t{i}{text}", AT, credit)
                            for i in range(credits)), value)
    return ConversionRecord(f"tag{text}", f"e{text}", "4b6c7f50-6b2c-5c4e-9a1d-8f0e6c2d3b1a",
                            f"m{text}", "a1", None if rules is None else "purchase", AT, 7,
                            value, rules, "api", AT.astimezone(UTC), outcome)


TEXTS = ["", "plain", "tab\there", "new\nline", "back\\slash", "cr\rhere", "ünï\u2028côde"]


@pytest.mark.parametrize("text", TEXTS)
def test_member_and_touch_rows_are_the_generic_rows(text: str) -> None:
    members = {"4b6c7f50-6b2c-5c4e-9a1d-8f0e6c2d3b1a": f"m{text}", f"t{text}": "m2"}
    assert members_copy(members) == copy_text(members.items())
    touches = [(f"tl{text}", Touch(f"e{text}", f"c{text}", "click", AT, 3)),
               ("tl", Touch("e", "c", "impression", AT.astimezone(UTC), 4))]
    assert touches_copy(touches) == copy_text(
        (tl, t.event_id, t.campaign_id, t.kind, t.occurred_at, t.seq) for tl, t in touches)


@pytest.mark.parametrize("text", TEXTS)
def test_conversion_and_credit_rows_are_the_generic_rows(text: str) -> None:
    records = [record(text), record(text, rules=None, value=Money(12, "USD"), credits=0),
               record("x", value=Money(3, "USD"), credits=1),
               record(f"f{text}", value=Money(101, "USD"), credits=3, credit=1 / 3)]
    assert conversions_copy(records, RulesText()) == copy_text(conversion_row(r) for r in records)
    assert credits_copy(records) == copy_text(
        tuple(getattr(row, name) for name in CREDIT_NAMES)
        for r in records for row in credit_rows(r))


def test_nothing_to_write_is_no_bytes() -> None:
    assert members_copy({}) == touches_copy([]) == conversions_copy([], RulesText()) == \
        credits_copy([]) == b""


def test_a_fractional_credit_row_carries_its_credit_and_its_share_of_the_value() -> None:
    [row, _] = credit_rows(record("f", value=Money(101, "USD"), credit=0.5))
    assert (row.credit, row.value_minor) == (0.5, 50)  # 50.5, rounded half to even
    assert credits_copy([record("f", value=Money(101, "USD"), credits=1, credit=0.5)]) \
        .decode().endswith("\t50\tUSD\t0.5\n")
