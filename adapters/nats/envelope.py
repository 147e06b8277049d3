"""A stored event on the wire and back: the body is the stored state, the headers say where it sits.

The body is exactly the bytes the event store holds (already transcoded, compressed or
encrypted as the application is configured), so the relay never decodes and the worker decodes
as a store read would (projections/fact_decoding.FactDecoder: member facts with msgspec where
that is exact, everything else with the source's mapper): an event read from NATS and the same
event read from the store are the same Envelope (ADR: exactly-once effects).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, Notification, StoredEvent

from adapters.bootstrap import Container
from adapters.nats.subjects import Topology, msg_id
from projections.base import Envelope
from projections.fact_decoding import FactDecoder

MSG_ID = "Nats-Msg-Id"
APPLICATION = "Convtrack-Application"
POSITION = "Convtrack-Position"
TOPIC = "Convtrack-Topic"
ORIGINATOR_ID = "Convtrack-Originator-Id"
ORIGINATOR_VERSION = "Convtrack-Originator-Version"


class UndecodableMessage(ValueError):
    """A message without the headers the relay always sets: not one of ours, or corrupted."""


@dataclass(frozen=True)
class Undecoded:
    """Stands in for an event whose state the mapper could not decode, so it can be parked."""

    TOPIC = "convtrack:Undecoded"

    topic: str
    error: str
    timestamp: datetime | None = None


def sources_of(container: Container) -> dict[str, Application[Any]]:
    """The applications whose notification logs feed the read side, by source name."""
    # Source names are the ones projections track (projections.base.SOURCES), not the
    # applications' class-derived names, which differ for the management app.
    return {"management": container.management, "ingestion": container.ingestion}


def mappers_of(container: Container) -> dict[str, Mapper[Any]]:
    """Each source's mapper, to turn stored state back into domain events."""
    return {name: app.mapper for name, app in sources_of(container).items()}


def to_message(
    topology: Topology, application: str, notification: Notification
) -> tuple[str, bytes, dict[str, str]]:
    """Subject, body and headers for one notification."""
    headers = {
        MSG_ID: msg_id(application, notification.id),
        APPLICATION: application,
        POSITION: str(notification.id),
        TOPIC: notification.topic,
        ORIGINATOR_ID: str(notification.originator_id),
        ORIGINATOR_VERSION: str(notification.originator_version),
    }
    return topology.subject_for(notification.topic), notification.state, headers


def position_of(headers: Mapping[str, str] | None) -> tuple[str, int]:
    """The source application and position a message carries, without decoding its body."""
    if not headers or APPLICATION not in headers or POSITION not in headers:
        raise UndecodableMessage(f"message lacks {APPLICATION}/{POSITION} headers: {headers!r}")
    try:
        return headers[APPLICATION], int(headers[POSITION])
    except ValueError as error:
        raise UndecodableMessage(f"bad {POSITION} header: {headers[POSITION]!r}") from error


def decoders_of(mappers: Mapping[str, Mapper[Any]]) -> dict[str, FactDecoder]:
    """Each source's decoder: member-timeline facts decoded with msgspec where that is exact
    (projections/fact_decoding.py, ADR 0014), everything else with the source's mapper."""
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
        stored = StoredEvent(originator_id=UUID(headers[ORIGINATOR_ID]),
                             originator_version=int(headers[ORIGINATOR_VERSION]),
                             topic=headers[TOPIC], state=body)
    except (KeyError, ValueError) as error:
        return Envelope(application, position,
                        Undecoded(headers.get(TOPIC, "?"), f"bad headers: {error!r}"))
    return decode(application, position, decoder, stored)


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
