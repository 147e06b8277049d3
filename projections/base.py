"""What every projection offers the workers that drive it (ADR 0007: exactly-once effects).

Workers (adapters/nats) read events from JetStream, or from the event store when they are far
behind or see a gap, and hand them to a projection in batches. A projection applies a batch to
its read model and advances its tracking positions in ONE transaction, so a redelivered event
changes nothing. Positions are notification ids, one sequence per source application
("management", "ingestion"); a projection tracks each source separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

SOURCES = ("management", "ingestion")


@dataclass(frozen=True)
class Envelope:
    """A domain event with where it sits in its application's log."""

    application: str  # "management" | "ingestion"
    position: int  # notification id in that application's log
    event: Any  # the decoded eventsourcing domain event

    @property
    def topic(self) -> str:
        """The event's stable topic, e.g. convtrack:MemberTimeline.ClickRecorded."""
        return str(getattr(type(self.event), "TOPIC", type(self.event).__qualname__))


@dataclass(frozen=True)
class ParkedEvent:
    """An event that kept failing: set aside with its error so the stream can go on."""

    projection: str
    application: str
    position: int
    topic: str
    error: str
    attempts: int
    parked_at: datetime


class Projection(Protocol):
    """The worker-facing side of a projection."""

    name: str  # stable forever: tables and consumers carry it
    version: int  # bumped when a rebuild is needed to change its tables' meaning

    def tracked_positions(self) -> dict[str, int]:
        """The last position applied, per source application (0 when nothing yet)."""
        ...

    def process_batch(self, batch: Sequence[Envelope]) -> None:
        """Apply the envelopes and advance tracking, in one transaction.

        Envelopes at or below the tracked position of their application are skipped, so a
        redelivery changes nothing. Within an application the batch is in position order.
        Raises on failure, leaving nothing changed.
        """
        ...

    def park(self, envelope: Envelope, error: str, attempts: int) -> None:
        """Record the envelope as parked and advance tracking past it, in one transaction."""
        ...

    def list_parked(self) -> list[ParkedEvent]:
        """Every parked event of this projection, oldest first."""
        ...
