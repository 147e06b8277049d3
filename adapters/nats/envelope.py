"""A stored event on the wire: the body is the stored state, the headers say where it sits.

The body is exactly the bytes the event store holds (already transcoded, compressed or
encrypted as the application is configured), so the relay never decodes, and a worker decodes a
message as a store read would (adapters/read_side/decoding.py): an event read from NATS and the
same event read from the store are the same Envelope (ADR 0007). Every message names the
deployment that published it, so a worker can refuse another's (ADR 0023).
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from adapters.nats.subjects import Topology

MSG_ID = "Nats-Msg-Id"
DEPLOYMENT = "Convtrack-Deployment"
APPLICATION = "Convtrack-Application"
POSITION = "Convtrack-Position"
TOPIC = "Convtrack-Topic"
ORIGINATOR_ID = "Convtrack-Originator-Id"
ORIGINATOR_VERSION = "Convtrack-Originator-Version"


class UndecodableMessage(ValueError):
    """A message without the headers the relay always sets: not one of ours, or corrupted."""


def to_message(
    topology: Topology, application: str, notification: Notification
) -> tuple[str, bytes, dict[str, str]]:
    """Subject, body and headers for one notification."""
    headers = {
        MSG_ID: topology.msg_id(application, notification.id),
        DEPLOYMENT: topology.deployment,
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


def deployment_of(headers: Mapping[str, str] | None) -> str | None:
    """The deployment that published a message; None if it does not say."""
    return headers.get(DEPLOYMENT) if headers else None


def stored_event_of(headers: Mapping[str, str], body: bytes) -> StoredEvent:
    """The stored event a message carries; KeyError or ValueError on bad headers."""
    return StoredEvent(originator_id=UUID(headers[ORIGINATOR_ID]),
                       originator_version=int(headers[ORIGINATOR_VERSION]),
                       topic=headers[TOPIC], state=body)


def topic_of(headers: Mapping[str, str]) -> str:
    """The topic header, or '?' when it is missing."""
    return headers.get(TOPIC, "?")
