"""msgspec shapes of the HTTP contract (docs/api.md): request bodies and responses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

Category = Literal[
    "add_to_cart", "book_appointment", "contact", "download", "install", "key_page_view", "lead",
    "purchase", "qualified_lead", "request_quote", "sign_up", "start_checkout", "start_trial",
    "submit_application", "subscribe", "view_content", "other",
]
Window = Literal[1, 7, 30, 90, 365]
# msgspec documents datetime as a bare string; docs/api.md's times are RFC 3339 (date-time).
Timestamp = Annotated[datetime, msgspec.Meta(extra_json_schema={"format": "date-time"})]


class ErrorBody(msgspec.Struct):
    """docs/api.md's error format."""

    error: str
    detail: str
    field: str | None = None


class MoneyIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_minor: int
    currency: str


class NewAccountIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class AccountOut(msgspec.Struct):
    account_id: str
    name: str
    api_key: str


class AccountStatusOut(msgspec.Struct):
    account_id: str
    name: str
    status: Literal["active", "disabled"]


class NewKeyOut(msgspec.Struct):
    key_id: str
    api_key: str  # shown this once
    created_at: Timestamp


class KeyOut(msgspec.Struct):
    key_id: str
    created_at: Timestamp
    last_used_day: date | None  # UTC; recorded at most once a day


class KeyList(msgspec.Struct):
    items: list[KeyOut]


class RevokedKeyOut(msgspec.Struct):
    key_id: str
    revoked_at: Timestamp


class NewTagIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class TagOut(msgspec.Struct):
    tag_id: str
    name: str
    owner_account_id: str
    domains: list[str]
    status: str
    role: str  # the caller's role on the tag: owner, admin, editor or viewer (extension)


class TagList(msgspec.Struct):
    items: list[TagOut]


class DomainIn(msgspec.Struct, forbid_unknown_fields=True):
    domain: str


class GrantIn(msgspec.Struct, forbid_unknown_fields=True):
    account_id: str
    role: Literal["viewer", "editor", "admin"]


class GrantOut(msgspec.Struct):
    account_id: str
    role: str | None


class GrantList(msgspec.Struct):
    items: list[GrantOut]


class NewCampaignIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    type: Literal["sponsored_content", "text_ad", "message_ad", "video_ad", "other"]
    status: Literal["active", "paused"] = "active"


class CampaignPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | UnsetType = UNSET
    status: Literal["active", "paused", "archived"] | UnsetType = UNSET


class SpendIn(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    amount_minor: int
    currency: str


class SpendOut(msgspec.Struct):
    campaign_id: str
    day: str
    amount_minor: int
    currency: str


class CampaignOut(msgspec.Struct):
    campaign_id: str
    name: str
    type: str
    status: str
    owner_account_id: str
    created_at: datetime
    currency: str | None
    spend: list[SpendOut]


class CampaignList(msgspec.Struct):
    items: list[CampaignOut]


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    match: Literal["exact", "starts_with", "contains"]
    url: str


# domain.values.ATTRIBUTION_MODELS (docs/attribution.md): the last-touch and fractional models.
AttributionModel = Literal["last_touch_each_campaign", "last_touch_last_campaign", "first_touch",
                           "linear", "time_decay", "position_based"]


class ActionSettingsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The settings an action may leave out on creation (docs/api.md gives their defaults)."""

    rules: list[RuleIn] | UnsetType = UNSET
    value_mode: Literal["dynamic", "fixed", "none"] | UnsetType = UNSET
    value: MoneyIn | None | UnsetType = UNSET
    click_window_days: Window | UnsetType = UNSET
    view_window_days: Window | UnsetType = UNSET
    counting: Literal["each", "one"] | UnsetType = UNSET
    attribution: AttributionModel | UnsetType = UNSET
    campaign_ids: list[str] | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET


class NewActionIn(ActionSettingsIn, kw_only=True):
    """A new conversion action: tag, name and category are required."""

    tag_id: str
    name: str
    category: Category


class ActionPatch(ActionSettingsIn, kw_only=True):
    """Any settings but the tag; only the fields sent change."""

    name: str | UnsetType = UNSET
    category: Category | UnsetType = UNSET


class RuleOut(msgspec.Struct):
    match: str
    url: str


class MoneyOut(msgspec.Struct):
    amount_minor: int
    currency: str


class ActionOut(msgspec.Struct):
    action_id: str
    tag_id: str
    name: str
    category: str
    rules: list[RuleOut]
    value_mode: str
    value: MoneyOut | None
    click_window_days: int
    view_window_days: int
    counting: str
    attribution: str
    campaign_ids: list[str]
    enabled: bool
    status: str  # enabled, disabled or archived (extension)


class ActionList(msgspec.Struct):
    items: list[ActionOut]


class DebugIn(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    # Draft rules, not saved, judged against the URL too: the UI's live rule tester (ADR 0036).
    rules: list[RuleIn] | None = None


class ActionVerdictOut(msgspec.Struct):
    action_id: str
    name: str
    fires: bool
    reason: str
    matched_rule: RuleOut | None


class RuleCheckOut(msgspec.Struct):
    """One draft rule and whether it matches the URL."""

    match: str
    url: str
    matches: bool


class DraftVerdictOut(msgspec.Struct):
    """How an action with the draft rules would judge the URL, and each rule's test."""

    fires: bool
    reason: str
    rules: list[RuleCheckOut]


class DebugOut(msgspec.Struct, omit_defaults=True):
    url: str
    host: str | None
    domain_registered: bool
    actions: list[ActionVerdictOut]
    draft: DraftVerdictOut | UnsetType = UNSET  # only when the body has `rules`


class TouchItem(msgspec.Struct, forbid_unknown_fields=True):
    """One impression or click (docs/api.md: Facts)."""

    event_id: str
    member_id: str
    kind: Literal["impression", "click"]
    campaign_id: str
    occurred_at: Timestamp


class TouchBatch(msgspec.Struct):
    touches: list[TouchItem]


class ConversionItem(msgspec.Struct, forbid_unknown_fields=True):
    """One server-side conversion; give member_id or a click_id from a recorded click."""

    event_id: str
    action_id: str
    occurred_at: Timestamp
    member_id: str | None = None
    click_id: str | None = None
    value: MoneyIn | None = None


class ConversionBatch(msgspec.Struct):
    conversions: list[ConversionItem]


class ItemResultOut(msgspec.Struct):
    event_id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None
    field: str | None = None
    detail: str | None = None


class BatchResults(msgspec.Struct):
    results: list[ItemResultOut]


class ConsentOut(msgspec.Struct):
    member_id: str
    opted_out: bool


class ErasureOut(msgspec.Struct):
    """Erasure is accepted; the read models blank the member once they apply it (ADR 0027)."""

    status: str


class MemberTokenOut(msgspec.Struct):
    """A signed member token (the `ct_mid` value) and the sync pixel that sets it (ADR 0030)."""

    token: str
    sync_url: str
    expires_at: Timestamp


class NewClickIn(msgspec.Struct, forbid_unknown_fields=True):
    member_id: str
    campaign_id: str
    landing_url: str
    event_id: str | None = None  # the click touch's event_id, and then the click id too


class ClickOut(msgspec.Struct):
    click_id: str
    click_url: str
    expires_at: Timestamp


class Health(msgspec.Struct):
    status: str
    checks: dict[str, Any]
