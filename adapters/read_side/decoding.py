"""Envelopes from NATS messages and from store notifications, decoded the same way.

A worker reads an event from JetStream or, to fill a gap or catch up, from the event store
itself; both give the same Envelope (ADR 0007), decoded by the source's FactDecoder (member facts
with msgspec where that is exact, ADR 0014; everything else with the source's mapper). An event
that cannot be decoded becomes an `Undecoded` stand-in, which the worker parks: never skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Mapper, Notification, StoredEvent

from adapters.nats.envelope import UndecodableMessage, position_of, stored_event_of, topic_of
from adapters.read_side.fact_decoding import FactDecoder
from projections.base import Envelope


@dataclass(frozen=True)
class Undecoded:
    """Stands in for an event whose state the mapper could not decode, so it can be parked."""

    TOPIC = "convtrack:Undecoded"

    topic: str
    error: str
    timestamp: datetime | None = None


def decoders_of(mappers: Mapping[str, Mapper[Any]]) -> dict[str, FactDecoder]:
    """Each source's decoder: member-timeline facts decoded with msgspec where that is exact
    (adapters/read_side/fact_decoding.py, ADR 0014), everything else with the source's mapper."""
    return {name: FactDecoder(mapper) for name, mapper in mappers.items()}


def from_message(
    decoders: Mapping[str, FactDecoder], headers: Mapping[str, str] | None, body: bytes
) -> Envelope:
    """Decode one message into an Envelope with the source application's decoder."""
    application, position = position_of(headers)
    assert headers is not None  # position_of checked
    decoder = decoders.get(application)
    if decoder is None:
        raise UndecodableMessage(f"unknown source application {application!r}")
    try:
        stored = stored_event_of(headers, body)
    except (KeyError, ValueError) as error:
        return Envelope(application, position,
                        Undecoded(topic_of(headers), f"bad headers: {error!r}"))
    return decode(application, position, decoder, stored)


def unknown_keys(decoders: Mapping[str, FactDecoder],
                 messages: Sequence[tuple[Mapping[str, str] | None, bytes]]
                 ) -> list[tuple[FactDecoder, list[Any]]]:
    """The member keys a batch of messages needs that are not known yet, per source: read them
    with `read_keys`, one query per source, before decoding (ADR 0027). No I/O here."""
    by_source: dict[str, list[Any]] = {}
    for headers, body in messages:
        try:
            application, _ = position_of(headers)
            assert headers is not None
            stored = stored_event_of(headers, body)
        except (UndecodableMessage, KeyError, ValueError):
            continue  # decoding it will say what is wrong
        by_source.setdefault(application, []).append(stored)
    found = []
    for application, stored in by_source.items():
        decoder = decoders.get(application)
        if decoder is not None and (ids := decoder.unknown_keys(stored)):
            found.append((decoder, ids))
    return found


def read_keys(unknown: Sequence[tuple[FactDecoder, list[Any]]]) -> None:
    """Read what `unknown_keys` found missing."""
    for decoder, ids in unknown:
        decoder.read_keys(ids)


def from_notification(application: str, decoder: FactDecoder, notification: Notification
                      ) -> Envelope:
    """Decode one notification read straight from the event store (gap fill, catch-up)."""
    return decode(application, notification.id, decoder, notification)


def decode(application: str, position: int, decoder: FactDecoder, stored: StoredEvent
           ) -> Envelope:
    """The envelope of a stored event; an Undecoded stand-in if decoding fails on it."""
    try:
        return Envelope(application, position, decoder.decode_notification(stored))
    except Exception as error:  # parked by the worker with this text, never skipped silently
        return Envelope(application, position, Undecoded(stored.topic, repr(error)))
