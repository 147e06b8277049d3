"""Fires: what a browser's tag sends to `/collect`, and what an accepted one becomes.

An accepted fire travels from the collector to the fires consumer through JetStream (ADR 0032)
and is recorded there as one conversion per action it converts for, through the same checks
as a server-side conversion (`IngestionApp.record_fires`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from application.facts import ConversionIn
from domain.validation import Invalid, check_amount, check_currency, check_identifier
from domain.values import Money

# What the collector did with a fire: `accepted`, or why it dropped it (docs/api.md: every drop
# is counted by reason, and answered exactly as an accepted fire is).
ACCEPTED = "accepted"
INVALID = "invalid"
BOT = "bot"
RATE_LIMITED = "rate_limited"
UNKNOWN_TAG = "unknown_tag"
DISABLED_TAG = "disabled_tag"
UNREGISTERED_DOMAIN = "unregistered_domain"
NO_MATCHING_ACTION = "no_matching_action"
UNKNOWN_MEMBER = "unknown_member"
UNAVAILABLE = "unavailable"  # accepted, but JetStream did not confirm it in time: lost
OUTCOMES = (ACCEPTED, INVALID, BOT, RATE_LIMITED, UNKNOWN_TAG, DISABLED_TAG,
            UNREGISTERED_DOMAIN, NO_MATCHING_ACTION, UNKNOWN_MEMBER, UNAVAILABLE)

# A page's event id is at most this long, so that `<eid>:<action_id>` (below) stays within the
# 200 characters of any event_id (domain/validation.py: check_identifier).
MAX_FIRE_EVENT_ID = 128
MAX_URL = 8192  # browsers send longer URLs rarely; such a fire is malformed, not truncated
MAX_TAG_ID = 64


@dataclass(frozen=True)
class FireIn:
    """A fire as a browser sent it, decoded but not yet checked."""

    tag_id: str
    url: str
    event_id: str
    click_id: str | None = None
    action_id: str | None = None  # an explicit `convtrack('track', ...)` call
    value: Money | None = None


@dataclass(frozen=True)
class Fire:
    """An accepted fire, as published to JetStream and recorded by the fires consumer.

    `conversions` pairs each action it converts for with that conversion's event_id
    (`conversion_event_ids`); `member_id` is None when only the click id names the member,
    which the consumer resolves through the ingestion ledger.
    """

    tag_id: str
    event_id: str
    url: str
    received_at: datetime
    conversions: tuple[tuple[str, str], ...]
    member_id: str | None = None
    click_id: str | None = None
    value: Money | None = None


def check_fire(fire: FireIn) -> None:
    """Raise Invalid unless the fire is well formed (shape only: nothing is decided here)."""
    check_identifier(fire.tag_id, "tid", max_length=MAX_TAG_ID)
    if not fire.url or len(fire.url) > MAX_URL:
        raise Invalid("url", "invalid", f"a page URL of at most {MAX_URL} characters is needed")
    check_identifier(fire.event_id, "eid", max_length=MAX_FIRE_EVENT_ID)
    if fire.click_id is not None:
        check_identifier(fire.click_id, "clid")
    if fire.action_id is not None:
        check_identifier(fire.action_id, "aid", max_length=MAX_TAG_ID)
    if fire.value is not None:
        check_amount(fire.value.amount_minor, "value.amount_minor")
        check_currency(fire.value.currency, "value.currency")


def conversion_event_ids(event_id: str, action_ids: tuple[str, ...]
                         ) -> tuple[tuple[str, str], ...]:
    """Each converting action with the event_id its conversion is recorded under.

    One event_id within one tag is one conversion (docs/attribution.md), so a fire converting
    for one action (always so for an explicit track call) keeps the page's `eid`: a server-side
    conversion sent with the same event_id for that tag is the same conversion, whichever
    arrives first. A page view converting for several actions is one conversion per action, so
    each gets `<eid>:<action_id>`, which a server sending the same conversion uses too.
    """
    if len(action_ids) == 1:
        return ((action_ids[0], event_id),)
    return tuple((action_id, f"{event_id}:{action_id}") for action_id in action_ids)


def to_conversions(fire: Fire) -> list[ConversionIn]:
    """The conversions an accepted fire records, from the tag (`source` "tag")."""
    return [ConversionIn(event_id=event_id, action_id=action_id, member_id=fire.member_id,
                         click_id=fire.click_id, occurred_at=fire.received_at, value=fire.value,
                         payload=_payload(fire, action_id, event_id), source="tag")
            for action_id, event_id in fire.conversions]


def _payload(fire: Fire, action_id: str, event_id: str) -> dict[str, Any]:
    """What the ledger keeps of a conversion from a fire (a duplicate's copy, a dead letter)."""
    payload: dict[str, Any] = {"tid": fire.tag_id, "url": fire.url, "eid": fire.event_id,
                               "event_id": event_id, "action_id": action_id,
                               "occurred_at": fire.received_at.isoformat()}
    if fire.member_id is not None:
        payload["member_id"] = fire.member_id
    if fire.click_id is not None:
        payload["click_id"] = fire.click_id
    if fire.value is not None:
        payload["value"] = fire.value.as_dict()
    return payload
