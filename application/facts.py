"""The shapes facts take on their way in and out of the ingestion application."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.member_timeline import MemberTimeline
from domain.values import Money


@dataclass(frozen=True)
class TouchIn:
    """An impression or click from the ad platform, decoded but not yet checked."""

    event_id: str
    member_id: str
    kind: str
    campaign_id: str
    occurred_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class ConversionIn:
    """A conversion from an advertiser's server (or a tag fire), decoded but not yet checked."""

    event_id: str
    action_id: str
    member_id: str | None
    click_id: str | None
    occurred_at: datetime
    value: Money | None
    payload: dict[str, Any]
    source: str = "api"


@dataclass(frozen=True)
class Undecodable:
    """An item the adapter could not decode; it is answered and kept as a dead letter."""

    event_id: str | None
    field: str | None
    reason: str
    detail: str
    payload: Any


@dataclass(frozen=True)
class ItemResult:
    """One batch item's answer (docs/api.md: accepted, duplicate or rejected with a reason)."""

    event_id: str | None
    status: str
    reason: str | None = None
    field: str | None = None
    detail: str | None = None

    @classmethod
    def accepted(cls, event_id: str) -> ItemResult:
        return cls(event_id, "accepted")

    @classmethod
    def duplicate(cls, event_id: str) -> ItemResult:
        return cls(event_id, "duplicate", "duplicate_event_id", "event_id",
                   "this event_id was recorded before; the first copy counts")

    @classmethod
    def rejected(cls, event_id: str | None, field: str | None, reason: str,
                 detail: str) -> ItemResult:
        return cls(event_id, "rejected", reason, field, detail)


@dataclass(slots=True)
class Plan:
    """A checked fact, ready to be recorded on its member's timeline unless it is a duplicate."""

    index: int
    scope: str
    event_id: str
    member_id: str | None  # None: a click id of a member who had opted out named the member
    source: str
    payload: dict[str, Any]
    fact: TouchIn | ConversionIn
    actor: str
    tag_id: str | None = None  # a conversion's tag
    campaign_id: str | None = None  # a touch's campaign, kept with its key

    def record(self, timeline: MemberTimeline) -> None:
        """Record the fact on its member's timeline."""
        fact = self.fact
        if isinstance(fact, ConversionIn):
            assert self.tag_id is not None
            value = fact.value.as_dict() if fact.value else None
            timeline.record_conversion(fact.event_id, fact.action_id, self.tag_id, value,
                                       fact.source, fact.click_id, actor=self.actor,
                                       occurred_at=fact.occurred_at)
        else:
            timeline.record_touch(fact.kind, fact.event_id, fact.campaign_id, actor=self.actor,
                                  occurred_at=fact.occurred_at)
