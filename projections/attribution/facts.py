"""Member-timeline facts as light records: what store catch-up decodes instead of domain events.

Touches, conversions and timeline creations are ~all of the ingestion log. These frozen records
have the same attribute names as the library's domain events, so the attribution handlers take
either; adapters/read_side/fact_decoding.py builds them straight from the stored JSON (ADR 0014).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import msgspec

from domain.member_timeline import MemberTimeline


class _Fact(msgspec.Struct, frozen=True, gc=False):
    """What every member-timeline event has, named as on the library's domain events."""

    originator_id: Any  # the notification's id as the recorder gives it (a UUID)
    originator_version: int
    timestamp: datetime
    actor: str
    occurred_at: datetime


class TimelineCreated(_Fact, frozen=True, gc=False):
    """MemberTimeline.Created as read from the store."""

    TOPIC: ClassVar[str] = MemberTimeline.Created.TOPIC

    originator_topic: str
    member_id: str


class _Touch(_Fact, frozen=True, gc=False):
    event_id: str
    campaign_id: str


class ImpressionRecorded(_Touch, frozen=True, gc=False):
    """MemberTimeline.ImpressionRecorded as read from the store."""

    TOPIC: ClassVar[str] = MemberTimeline.ImpressionRecorded.TOPIC


class ClickRecorded(_Touch, frozen=True, gc=False):
    """MemberTimeline.ClickRecorded as read from the store."""

    TOPIC: ClassVar[str] = MemberTimeline.ClickRecorded.TOPIC


class ConversionRecorded(_Fact, frozen=True, gc=False):
    """MemberTimeline.ConversionRecorded as read from the store."""

    TOPIC: ClassVar[str] = MemberTimeline.ConversionRecorded.TOPIC

    event_id: str
    action_id: str
    tag_id: str
    value: dict[str, Any] | None
    source: str
    click_id: str | None


FastEvent = TimelineCreated | ImpressionRecorded | ClickRecorded | ConversionRecorded
