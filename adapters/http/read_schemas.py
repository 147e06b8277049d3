"""msgspec shapes of the read side's responses (docs/api.md: Read side), with documented
extensions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from adapters.http.schemas import MoneyOut

Status = Literal["attributed", "deduplicated", "unattributed"]
CreditKind = Literal["post_click", "post_view"]


class CreditOut(msgspec.Struct):
    """A counted credit of a conversion to a campaign; `credit` (1.0 under the last-touch
    models) and `value_minor`, its share of the conversion's value, are additive fields."""

    campaign_id: str
    kind: CreditKind
    touch_event_id: str
    touch_occurred_at: datetime
    credit: float
    value_minor: int | None


class ConversionOut(msgspec.Struct):
    """An attributed (or not) conversion; tag_id, category and source are extensions."""

    event_id: str
    action_id: str
    member_id: str
    occurred_at: datetime
    status: Status
    attributions: list[CreditOut]
    value: MoneyOut | None
    tag_id: str
    category: str | None
    source: str


class ConversionPage(msgspec.Struct):
    """A page of conversions, newest first; next_cursor is null on the last page."""

    items: list[ConversionOut]
    next_cursor: str | None


class SettingsOut(msgspec.Struct):
    """The action's settings the conversion was attributed under."""

    action_id: str
    click_window_days: int
    view_window_days: int
    counting: str
    attribution: str
    campaign_ids: list[str]
    value_mode: str
    value: MoneyOut | None


class CandidateOut(msgspec.Struct):
    """One touch of the member, of a campaign the caller may see, and what the rules decided
    about it for this conversion."""

    touch_event_id: str
    campaign_id: str
    kind: Literal["impression", "click"]
    occurred_at: datetime
    verdict: str
    detail: str


class CountingOut(msgspec.Struct):
    """The counting mode and the decision it led to."""

    mode: str | None
    decision: str


class LedgerCopyOut(msgspec.Struct):
    """A copy of the conversion: the one recorded, or one answered `duplicate`."""

    source: str
    received_at: datetime
    payload: dict[str, Any] | None = None


class LedgerOut(msgspec.Struct):
    """The de-duplication ledger of the conversion's event_id (docs/attribution.md)."""

    scope: str
    recorded: LedgerCopyOut
    duplicates: list[LedgerCopyOut]


class ExplanationOut(msgspec.Struct):
    """The rule steps that led to the conversion's status, in words and in data."""

    event_id: str
    tag_id: str
    action_id: str
    member_id: str
    occurred_at: datetime
    status: Status
    summary: str
    steps: list[str]
    settings: SettingsOut | None
    own_value: MoneyOut | None
    value: MoneyOut | None
    attributions: list[CreditOut]
    candidates: list[CandidateOut]
    counting: CountingOut
    ledger: LedgerOut
    # An extension: the member's touches of campaigns the caller may not see, counted only.
    other_touches: int


class ReportRowOut(msgspec.Struct, omit_defaults=True):
    """A report row: only the group-by keys asked for are present. The counts are integers
    under the last-touch models and may be fractional under the fractional ones (ADR 0035)."""

    conversions: float
    post_click: float
    post_view: float
    value_minor: int
    currency: str | None
    spend_minor: int | None
    cost_per_conversion_minor: int | None
    roas: float | None
    campaign_id: str | None | UnsetType = UNSET
    action_id: str | None | UnsetType = UNSET
    day: str | None | UnsetType = UNSET
    kind: str | None | UnsetType = UNSET
    category: str | None | UnsetType = UNSET
    # Extensions, beside campaign_id / action_id when grouped by them (ADR 0036).
    campaign_name: str | None | UnsetType = UNSET
    action_name: str | None | UnsetType = UNSET


class ReportOut(msgspec.Struct):
    """A conversion report."""

    rows: list[ReportRowOut]


class AuditItemOut(msgspec.Struct):
    """One management event of the audit trail."""

    position: int
    aggregate_id: str
    type: str
    occurred_at: datetime
    actor: str
    data: dict[str, Any]
    recorded_at: datetime
    account_id: str | None
    tag_id: str | None


class AuditPage(msgspec.Struct):
    """Audit items in position order; next_cursor (an extension) continues after the last."""

    items: list[AuditItemOut]
    next_cursor: str | None


class DeadLetterOut(msgspec.Struct):
    """A rejected item as it was kept: its reason, and its payload (truncated past 16 KB)."""

    event_id: str | None
    kind: str
    reason: str
    field: str | None
    detail: str
    received_at: datetime
    payload: Any
    truncated: bool


class DeadLetterPage(msgspec.Struct):
    """The caller's dead letters, newest first; next_cursor continues after the last."""

    items: list[DeadLetterOut]
    next_cursor: str | None
