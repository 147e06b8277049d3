"""Tracking and parking, the part every projection's store shares (ADR 0007: exactly-once).

A store keeps, per source application, the last position applied, in the same transaction as
its read-model changes; and the events it parked, with their errors, so the stream can go on.
`InMemoryTracking` is the in-memory version for tests; adapters/postgres has the real one.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from projections.base import SOURCES, Envelope, ParkedEvent


class TrackedView(ABC):
    """A read-model store that tracks positions per source and keeps parked events."""

    @abstractmethod
    def tracked_positions(self) -> dict[str, int]:
        """The last position applied per source application (0 when nothing yet)."""

    @abstractmethod
    def park(self, projection: str, envelope: Envelope, error: str, attempts: int) -> None:
        """Keep the envelope as parked and advance tracking past it, atomically."""

    @abstractmethod
    def list_parked(self, projection: str) -> list[ParkedEvent]:
        """The parked events, oldest first."""


def advanced(positions: Mapping[str, int], batch: Sequence[Envelope]) -> dict[str, int]:
    """The positions after applying the batch: per source, the highest position seen."""
    result = dict(positions)
    for envelope in batch:
        if envelope.position > result.get(envelope.application, 0):
            result[envelope.application] = envelope.position
    return result


def unseen(positions: Mapping[str, int], batch: Sequence[Envelope]) -> list[Envelope]:
    """The envelopes above their source's tracked position: a redelivery yields none."""
    return [e for e in batch if e.position > positions.get(e.application, 0)]


class InMemoryTracking(TrackedView):
    """Tracking and parking in memory; subclasses guard their model with the same lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.positions: dict[str, int] = {source: 0 for source in SOURCES}
        self.parked: list[ParkedEvent] = []

    def tracked_positions(self) -> dict[str, int]:
        with self.lock:
            return dict(self.positions)

    def park(self, projection: str, envelope: Envelope, error: str, attempts: int) -> None:
        with self.lock:
            if envelope.position <= self.positions.get(envelope.application, 0):
                return  # already applied or parked: parking again would change nothing
            self.parked.append(ParkedEvent(projection, envelope.application, envelope.position,
                                           envelope.topic, error, attempts, datetime.now(UTC)))
            self.positions[envelope.application] = envelope.position

    def list_parked(self, projection: str) -> list[ParkedEvent]:
        with self.lock:
            return [p for p in self.parked if p.projection == projection]
