"""What the ingestion side writes beside its events, in the same transaction (ADR 0004).

- fact keys: one row per recorded fact, unique per (scope, event_id); the idempotency index.
- duplicates: every copy answered `duplicate`, with the copy that won (docs/attribution.md).
- dead letters: every rejected item with its reason and payload, for review.

`FactRecorder` is the interface the ingestion application needs from its event recorder; the
in-memory recorder here serves the tests, the PostgreSQL one lives in adapters/postgres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder


@dataclass(frozen=True)
class FactKey:
    """A recorded fact's idempotency key. `scope` is `touch` or `conversion:<tag_id>`."""

    scope: str
    event_id: str
    # None: the fact named a member who had opted out. Its key is kept, so that a repeat is
    # answered `duplicate` as anyone's would be, but nothing links it to the member.
    member_id: str | None
    source: str  # impression | click | tag | api
    campaign_id: str | None = None  # a touch's campaign: a click id resolves only through it


@dataclass(frozen=True)
class DuplicateEntry:
    """A copy answered `duplicate`: which fact it repeated and where the copy came from."""

    scope: str
    event_id: str
    source: str
    received_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class DeadLetter:
    """A rejected item, kept with its reason."""

    kind: str  # touch | conversion | collect
    event_id: str | None
    field: str | None
    reason: str
    detail: str
    received_at: datetime
    actor: str
    payload: Any

    def __post_init__(self) -> None:
        # A rejected item may carry any JSON text, including U+0000, which PostgreSQL text and
        # jsonb cannot hold: storing it failed the whole batch (a 500, valid items lost). A
        # dead letter is for people to review, so NUL is kept visibly as U+FFFD instead.
        for name in ("event_id", "field", "detail", "payload"):
            object.__setattr__(self, name, without_nul(getattr(self, name)))


def without_nul(value: Any) -> Any:
    """The value with every U+0000 in its strings (keys included) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


@dataclass
class Ledger:
    """What one ingestion batch writes besides events."""

    fact_keys: list[FactKey] = field(default_factory=list)
    duplicates: list[DuplicateEntry] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


class FactRecorder(Protocol):
    """The ingestion event recorder: events plus the ledger, atomically."""

    def find_fact_keys(self, scope: str, event_ids: Sequence[str]) -> dict[str, FactKey]: ...

    def select_heads(
        self, originator_ids: Sequence[UUID], consent_topics: Sequence[str]
    ) -> dict[UUID, tuple[int, str | None]]: ...

    def list_duplicates(self, scope: str, event_id: str) -> list[DuplicateEntry]: ...

    def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...


class InMemoryFactRecorder(POPOApplicationRecorder):
    """The in-memory event recorder with the ledger, for application tests."""

    def __init__(self) -> None:
        super().__init__()
        self.fact_keys: dict[tuple[str, str], FactKey] = {}
        self.duplicates: list[DuplicateEntry] = []
        self.dead_letters: list[DeadLetter] = []

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        ledger: Ledger = kwargs.get("ledger") or Ledger()
        with self._database_lock:
            for key in ledger.fact_keys:
                if (key.scope, key.event_id) in self.fact_keys:
                    raise IntegrityError(f"fact key {key} exists")
            ids = super().insert_events(stored_events, **kwargs) if stored_events else []
            self.fact_keys.update({(k.scope, k.event_id): k for k in ledger.fact_keys})
            self.duplicates.extend(ledger.duplicates)
            self.dead_letters.extend(ledger.dead_letters)
        return ids

    def find_fact_keys(self, scope: str, event_ids: Sequence[str]) -> dict[str, FactKey]:
        found = (self.fact_keys.get((scope, e)) for e in event_ids)
        return {k.event_id: k for k in found if k is not None}

    def select_heads(
        self, originator_ids: Sequence[UUID], consent_topics: Sequence[str]
    ) -> dict[UUID, tuple[int, str | None]]:
        heads: dict[UUID, tuple[int, str | None]] = {}
        for originator_id in originator_ids:
            events = self.select_events(originator_id)
            if events:
                consent = [e.topic for e in events if e.topic in consent_topics]
                heads[originator_id] = (events[-1].originator_version,
                                        consent[-1] if consent else None)
        return heads

    def list_duplicates(self, scope: str, event_id: str) -> list[DuplicateEntry]:
        return [d for d in self.duplicates if (d.scope, d.event_id) == (scope, event_id)]

    def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return self.dead_letters[-limit:][::-1]
