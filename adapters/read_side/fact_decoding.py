"""Member-timeline facts decoded straight from the event store's JSON, for store catch-up.

Touches, conversions and timeline creations are ~all of the ingestion log; decoding them through
the library's mapper (json + object_hook + transcodings + a domain event object) costs ~10 µs
each, a fifth of the catch-up budget (issue 3: >= 20,000 events/s). Here msgspec decodes the
stored state of those four topics into light frozen records with the same attribute names as the
domain events, so the attribution handlers take either. The decoding is strict: any state that
is not exactly what the library writes for these events today (an extra or missing field, a
`class_version`, another transcoding, a time `fromisoformat` would read differently, a cipher or
compressor on the mapper) falls back to the library's mapper, so the result is the same event.

Values sealed under a member's key (ADR 0027) are opened here as the mapper opens them, with the
mapper's key ring: `prefetch` reads the keys of a whole page in one query before it is decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal

import msgspec
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder

from application.member_keys import PREFIX, SEALED_FIELDS
from projections.attribution.facts import (
    ClickRecorded,
    ConversionRecorded,
    FastEvent,
    ImpressionRecorded,
    TimelineCreated,
)


class _Instant(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A datetime as the library's DatetimeAsISO transcoding stores it.

    For every text `isoformat` writes, msgspec reads the same instant with the same tzinfo as
    `datetime.fromisoformat`, or refuses it (offsets with seconds): then the mapper decodes.
    """

    type: Literal["datetime_iso"] = msgspec.field(name="_type_")
    data: datetime = msgspec.field(name="_data_")


class _MoneyState(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    amount_minor: int
    currency: str


class _CreatedState(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    timestamp: _Instant
    originator_topic: str
    actor: str
    occurred_at: _Instant
    member_id: str


class _TouchState(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    timestamp: _Instant
    actor: str
    occurred_at: _Instant
    event_id: str
    campaign_id: str


class _ConversionState(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    timestamp: _Instant
    actor: str
    occurred_at: _Instant
    event_id: str
    action_id: str
    tag_id: str
    value: _MoneyState | None
    source: str
    click_id: str | None


_Decode = Callable[[Any, int, bytes], FastEvent]


def _created(decode: Callable[[bytes], _CreatedState]) -> _Decode:
    def build(originator_id: Any, version: int, state: bytes) -> FastEvent:
        s = decode(state)
        return TimelineCreated(originator_id, version, s.timestamp.data, s.actor,
                               s.occurred_at.data, s.originator_topic, s.member_id)
    return build


def _touch(cls: type[ImpressionRecorded] | type[ClickRecorded],
           decode: Callable[[bytes], _TouchState]) -> _Decode:
    def build(originator_id: Any, version: int, state: bytes) -> FastEvent:
        s = decode(state)
        return cls(originator_id, version, s.timestamp.data, s.actor, s.occurred_at.data,
                   s.event_id, s.campaign_id)
    return build


def _conversion(decode: Callable[[bytes], _ConversionState]) -> _Decode:
    def build(originator_id: Any, version: int, state: bytes) -> FastEvent:
        s = decode(state)
        value = s.value
        return ConversionRecorded(
            originator_id, version, s.timestamp.data, s.actor, s.occurred_at.data, s.event_id,
            s.action_id, s.tag_id,
            None if value is None else {"amount_minor": value.amount_minor,
                                        "currency": value.currency},
            s.source, s.click_id)
    return build


_DECODERS: dict[str, _Decode] = {
    TimelineCreated.TOPIC: _created(msgspec.json.Decoder(_CreatedState).decode),
    ImpressionRecorded.TOPIC: _touch(ImpressionRecorded,
                                     msgspec.json.Decoder(_TouchState).decode),
    ClickRecorded.TOPIC: _touch(ClickRecorded, msgspec.json.Decoder(_TouchState).decode),
    ConversionRecorded.TOPIC: _conversion(msgspec.json.Decoder(_ConversionState).decode),
}
FAST_TOPICS = frozenset(_DECODERS)
# Each fast topic's one sealed field (a conversion's click_id may be None).
_SEALED = {topic: fields[0] for topic, fields in SEALED_FIELDS.items()}
assert set(_SEALED) == FAST_TOPICS and all(len(f) == 1 for f in SEALED_FIELDS.values())


class FactDecoder:
    """Decodes stored events of one application: the fast way where it is exact, else the mapper."""

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper
        self.fast = is_plain_json(mapper)
        self.key_ring = getattr(mapper, "key_ring", None)

    def prefetch(self, stored: Iterable[Any]) -> None:
        """Read the member keys a page of stored events needs, in one query (ADR 0027)."""
        ids = self.unknown_keys(stored)
        if ids:
            self.read_keys(ids)

    def unknown_keys(self, stored: Iterable[Any]) -> list[Any]:
        """The timelines of these stored events whose keys are not known yet (no I/O)."""
        ring = self.key_ring
        if ring is None:
            return []
        return ring.unknown(s.originator_id for s in stored if s.topic in _SEALED)

    def read_keys(self, timeline_ids: list[Any]) -> None:
        """Read these timelines' keys, in one query."""
        if self.key_ring is not None:
            self.key_ring.prefetch(timeline_ids)

    def decode(self, topic: str, originator_id: Any, version: int, state: bytes) -> Any:
        """The event: a light record for the four member-timeline fact topics, else the
        library's domain event (which raises as the mapper does on a bad state)."""
        if self.fast:
            build = _DECODERS.get(topic)
            if build is not None:
                try:
                    event = build(originator_id, version, state)
                except (msgspec.ValidationError, msgspec.DecodeError):
                    pass  # not exactly today's shape: the library decides
                else:
                    ring = self.key_ring
                    if ring is None:
                        return event
                    name = _SEALED[topic]
                    value = getattr(event, name)
                    if value.__class__ is str and value.startswith(PREFIX):
                        return msgspec.structs.replace(
                            event, **{name: ring.open_sealed(originator_id, value)})
                    return event
        return self.mapper.to_domain_event(_Stored(originator_id, version, topic, state))

    def decode_notification(self, notification: Any) -> Any:
        """The event of a notification (or any stored event) of this application."""
        return self.decode(notification.topic, notification.originator_id,
                           notification.originator_version, notification.state)


class _Stored(msgspec.Struct, frozen=True, gc=False):
    """What the mapper reads of a stored event."""

    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


def is_plain_json(mapper: Any) -> bool:
    """Whether the mapper stores events as the library's plain JSON with its ISO datetimes."""
    transcoder = getattr(mapper, "transcoder", None)
    return (getattr(mapper, "cipher", None) is None
            and getattr(mapper, "compressor", None) is None
            and isinstance(transcoder, JSONTranscoder)
            and type(transcoder.names.get("datetime_iso")) is DatetimeAsISO)
