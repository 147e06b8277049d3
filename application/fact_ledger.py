"""What the ingestion side writes beside its events, in the same transaction (ADR 0004).

- fact keys: one row per recorded fact, unique per (scope, event_id); the idempotency index.
- duplicates: every copy answered `duplicate`, with the copy that won (docs/attribution.md).
- dead letters: every rejected item with its reason and payload, for review.

`FactRecorder` is the interface the ingestion application needs from its event recorder; the
in-memory recorder here serves the tests, the PostgreSQL one lives in adapters/postgres.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder


class MemberHead(NamedTuple):
    """A member as a batch needs them: where their timeline is, their key, its head."""

    timeline_id: UUID  # the keyed timeline, else the legacy (hashed) id
    key: bytes | None  # None: no key (never seen since ADR 0027, erased, or legacy)
    version: int | None  # None: no event at timeline_id
    consent: str | None


class FactKey(NamedTuple):
    """A recorded fact's idempotency key. `scope` is `touch` or `conversion:<tag_id>`.

    A tuple of strings, one per fact of a batch: cheap to make, and untracked by the garbage
    collector once it has seen it (ADR 0034)."""

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
    truncated: bool = False  # the payload is the first MAX_PAYLOAD bytes of its JSON text
    id: int = 0  # its row id once stored (0 before)

    def __post_init__(self) -> None:
        # A rejected item may carry any JSON text, including U+0000, which PostgreSQL text and
        # jsonb cannot hold: storing it failed the whole batch (a 500, valid items lost). A
        # dead letter is for people to review, so NUL is kept visibly as U+FFFD instead.
        for name in ("event_id", "field", "detail", "payload"):
            object.__setattr__(self, name, without_nul(getattr(self, name)))
        if not self.truncated:
            text = json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"), default=str)
            raw = text.encode("utf-8", "replace")
            if len(raw) > MAX_PAYLOAD:
                cut = raw[:MAX_PAYLOAD].decode("utf-8", "ignore")
                object.__setattr__(self, "payload", without_nul(cut))
                object.__setattr__(self, "truncated", True)


# A dead letter's payload is kept whole up to this many bytes of JSON text (issue 9.6).
MAX_PAYLOAD = 16 * 1024


@dataclass(frozen=True)
class DeadLetterQuery:
    """Which of an actor's dead letters to list, newest first (GET /v1/dead-letters)."""

    actor: str
    kind: str | None = None
    reason: str | None = None
    received_from: datetime | None = None
    received_before: datetime | None = None
    before_id: int | None = None  # keyset: only rows with a smaller id
    limit: int = 100


def matches(letter: DeadLetter, query: DeadLetterQuery) -> bool:
    """Whether the query selects this dead letter (the in-memory recorder's filter)."""
    return (letter.actor == query.actor
            and (query.kind is None or letter.kind == query.kind)
            and (query.reason is None or letter.reason == query.reason)
            and (query.received_from is None or letter.received_at >= query.received_from)
            and (query.received_before is None or letter.received_at < query.received_before)
            and (query.before_id is None or letter.id < query.before_id))


def without_nul(value: Any) -> Any:
    """The value with every U+0000 in its strings (keys included) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


def strings_in(value: Any) -> list[str]:
    """Every string value in a JSON value, at any depth (object keys excluded)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    return []


@dataclass
class Ledger:
    """What one ingestion batch writes besides events."""

    fact_keys: list[FactKey] = field(default_factory=list)
    duplicates: list[DuplicateEntry] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # New rows of the key table: (member id, timeline id, key) (ADR 0027).
    member_keys: list[tuple[str, UUID, bytes]] = field(default_factory=list)
    # Members erased by this transaction: their key row, their touch keys, the member in their
    # other fact keys, and every ledger entry naming them or their touch ids go (ADR 0027).
    erasures: list[str] = field(default_factory=list)


class FactRecorder(Protocol):
    """The ingestion event recorder: events plus the ledger, atomically."""

    def find_fact_keys(self, scope: str, event_ids: Sequence[str]) -> dict[str, FactKey]: ...

    def select_heads(
        self, originator_ids: Sequence[UUID], consent_topics: Sequence[str]
    ) -> dict[UUID, tuple[int, str | None]]: ...

    def list_duplicates(self, scope: str, event_id: str) -> list[DuplicateEntry]: ...

    def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    def find_dead_letters(self, query: DeadLetterQuery) -> list[DeadLetter]:
        """The query's dead letters, newest (highest id) first."""
        ...

    def expire_dead_letters(self, before: datetime) -> int:
        """Delete the dead letters received before this moment; how many went."""
        ...

    def select_member_keys(self, member_ids: Sequence[str]) -> dict[str, tuple[UUID, bytes]]:
        """Per known member id: its timeline id and key (ADR 0027)."""
        ...

    def select_member_heads(
        self, member_ids: Sequence[str], legacy_ids: Sequence[UUID],
        consent_topics: Sequence[str],
    ) -> dict[str, MemberHead]:
        """Per member id (with the id its timeline had before ADR 0027): its timeline id, its
        key if it has one, and the timeline's last version and last consent topic, if any.
        One query for a whole batch."""
        ...

    def select_timeline_keys(self, timeline_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """Per timeline id with a key: the key (an erased member's is gone)."""
        ...


class InMemoryFactRecorder(POPOApplicationRecorder):
    """The in-memory event recorder with the ledger, for application tests."""

    def __init__(self) -> None:
        super().__init__()
        self.fact_keys: dict[tuple[str, str], FactKey] = {}
        self.duplicates: list[DuplicateEntry] = []
        self.dead_letters: list[DeadLetter] = []
        self.member_keys: dict[str, tuple[UUID, bytes]] = {}
        self._last_id = 0

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        ledger: Ledger = kwargs.get("ledger") or Ledger()
        with self._database_lock:
            for key in ledger.fact_keys:
                if (key.scope, key.event_id) in self.fact_keys:
                    raise IntegrityError(f"fact key {key} exists")
            timelines = {t for t, _ in self.member_keys.values()}
            for member_id, timeline_id, _ in ledger.member_keys:
                if member_id in self.member_keys or timeline_id in timelines:
                    raise IntegrityError(f"member key of {timeline_id} exists")
            ids = super().insert_events(stored_events, **kwargs) if stored_events else []
            self.fact_keys.update({(k.scope, k.event_id): k for k in ledger.fact_keys})
            self.duplicates.extend(ledger.duplicates)
            for letter in ledger.dead_letters:
                self._last_id += 1
                self.dead_letters.append(replace(letter, id=self._last_id))
            self.member_keys.update({m: (t, k) for m, t, k in ledger.member_keys})
            for member_id in ledger.erasures:
                self._erase(member_id)
        return ids

    def _erase(self, member_id: str) -> None:
        """What the PostgreSQL recorder's erasure statements do (ADR 0027)."""
        self.member_keys.pop(member_id, None)
        touches = {e for (scope, e), k in self.fact_keys.items()
                   if scope == "touch" and k.member_id == member_id}
        named = touches | {member_id}
        self.duplicates = [d for d in self.duplicates
                           if not (d.scope == "touch" and d.event_id in touches)
                           and not named & set(strings_in(d.payload))]
        self.dead_letters = [d for d in self.dead_letters
                             if d.event_id not in named
                             and not named & set(strings_in(d.payload))
                             and not any(n in d.detail for n in named)]
        for key, fact in list(self.fact_keys.items()):
            if fact.member_id == member_id:
                if key[0] == "touch":
                    del self.fact_keys[key]
                else:
                    self.fact_keys[key] = FactKey(fact.scope, fact.event_id, None, fact.source,
                                                  fact.campaign_id)

    def select_member_keys(self, member_ids: Sequence[str]) -> dict[str, tuple[UUID, bytes]]:
        return {m: self.member_keys[m] for m in member_ids if m in self.member_keys}

    def select_member_heads(
        self, member_ids: Sequence[str], legacy_ids: Sequence[UUID],
        consent_topics: Sequence[str],
    ) -> dict[str, MemberHead]:
        keys = self.select_member_keys(member_ids)
        ids = {m: keys[m][0] if m in keys else legacy for m, legacy in zip(member_ids, legacy_ids)}
        heads = self.select_heads(list(ids.values()), consent_topics)
        found = {}
        for member_id, uuid in ids.items():
            version, consent = heads.get(uuid, (None, None))
            key = keys[member_id][1] if member_id in keys else None
            found[member_id] = MemberHead(uuid, key, version, consent)
        return found

    def select_timeline_keys(self, timeline_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        wanted = set(timeline_ids)
        return {t: k for t, k in self.member_keys.values() if t in wanted}

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

    def find_dead_letters(self, query: DeadLetterQuery) -> list[DeadLetter]:
        found = [d for d in reversed(self.dead_letters) if matches(d, query)]
        return found[:query.limit]

    def expire_dead_letters(self, before: datetime) -> int:
        kept = [d for d in self.dead_letters if d.received_at >= before]
        gone = len(self.dead_letters) - len(kept)
        self.dead_letters = kept
        return gone
