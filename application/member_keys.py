"""Crypto-shredding of member-identifying values in the ingestion event store (ADR 0021).

Every member has a random 256-bit key and a random timeline id, kept in one row of the key
table (`member_keys`, written in the same transaction as the member's first events). The
mapper below seals the values of member-timeline events that name the member (the member id,
touch ids, a conversion's click id) with AES-GCM under that key before they are stored, and
opens them when events are read. Erasure deletes the row: what was sealed can then never be
read again, and it reads as `ERASED`; the rest of each event (times, campaigns, actions, values)
stays readable, so every report counts the same facts before and after.

A sealed value is the text `ct1:` + urlsafe base64 of (12-byte random nonce | ciphertext | tag),
with the timeline id as associated data, so a value cannot be moved to another timeline. The
nonce is random, so the same id sealed twice gives two texts: nothing in the store can be
compared to find a member's events (lookups go through the key table instead).
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper, StoredEvent

from domain.member_timeline import ERASED, MemberTimeline

PREFIX = "ct1:"
KEY_BYTES = 32
NONCE_BYTES = 12

# The fields of member-timeline events that name the member (a click's event_id is its click
# id, and a conversion's click_id is one of the member's clicks).
SEALED_FIELDS: dict[str, tuple[str, ...]] = {
    MemberTimeline.Created.TOPIC: ("member_id",),
    MemberTimeline.ImpressionRecorded.TOPIC: ("event_id",),
    MemberTimeline.ClickRecorded.TOPIC: ("event_id",),
    MemberTimeline.ConversionRecorded.TOPIC: ("click_id",),
}
_SEALED_BY_CLASS: dict[type, tuple[str, ...]] = {
    MemberTimeline.Created: ("member_id",),
    MemberTimeline.ImpressionRecorded: ("event_id",),
    MemberTimeline.ClickRecorded: ("event_id",),
    MemberTimeline.ConversionRecorded: ("click_id",),
}

KeyLoader = Callable[[list[UUID]], Mapping[UUID, bytes]]


def new_key() -> bytes:
    """A fresh random member key."""
    return os.urandom(KEY_BYTES)


def is_sealed(value: Any) -> bool:
    """Whether a stored value is sealed (values stored before ADR 0021 are plain text)."""
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(aead: AESGCM, timeline_id: UUID, value: str) -> str:
    """The value encrypted under a member's key, bound to their timeline."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = aead.encrypt(nonce, value.encode(), timeline_id.bytes)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_sealed(aead: AESGCM | None, timeline_id: UUID, value: str) -> str:
    """The plain value; `ERASED` when the key is gone (or the text is not a sealed value)."""
    if aead is None:
        return ERASED
    try:
        raw = base64.urlsafe_b64decode(value[len(PREFIX):])
        return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], timeline_id.bytes).decode()
    except (InvalidTag, binascii.Error, ValueError):
        return ERASED


def as_uuid(timeline_id: Any) -> UUID:
    """A timeline id as a UUID (the fast store reader gives them as text)."""
    return timeline_id if timeline_id.__class__ is UUID else UUID(str(timeline_id))


class KeyRing:
    """Member keys by timeline id: those the writer put for its batch, and those read back.

    Keys read back are cached (bounded); a key is forgotten when its member is erased through
    this process or an `Erased` event is decoded. Another process's erasure is seen by this one
    at the latest when it reads that `Erased` event; until then only events recorded before the
    erasure can be opened here, and the projection blanks what they showed (ADR 0021).
    """

    MAX_CACHED = 100_000

    def __init__(self, loader: KeyLoader) -> None:
        self._loader = loader
        self._aeads: dict[UUID, AESGCM | None] = {}
        self._lock = threading.Lock()

    def put(self, timeline_id: UUID, key: bytes) -> None:
        """A key the writer holds for this batch (it is in the key table, or about to be)."""
        self._remember({timeline_id: AESGCM(key)})

    def forget(self, timeline_id: UUID) -> None:
        """Drop a key (its member was erased)."""
        self._aeads.pop(as_uuid(timeline_id), None)

    def prefetch(self, timeline_ids: Iterable[UUID]) -> None:
        """Read the keys of these timelines that are not known yet, in one query."""
        aeads = self._aeads
        missing = list({t for t in map(as_uuid, timeline_ids) if t not in aeads})
        if missing:
            self._load(missing)

    def aead_of(self, timeline_id: UUID) -> AESGCM | None:
        """The cipher of a timeline's key; None if it has none (erased)."""
        try:
            return self._aeads[timeline_id]
        except KeyError:
            self._load([timeline_id])
            return self._aeads.get(timeline_id)

    def _load(self, timeline_ids: list[UUID]) -> None:
        found = self._loader(timeline_ids)
        # A sealed value is only ever read after its key row committed (same transaction), so
        # a timeline without a key is erased for good and can be remembered as such.
        loaded: dict[UUID, AESGCM | None] = {t: AESGCM(k) for t, k in found.items()}
        loaded.update({t: None for t in timeline_ids if t not in found})
        self._remember(loaded)

    def _remember(self, aeads: Mapping[UUID, AESGCM | None]) -> None:
        with self._lock:
            if len(self._aeads) + len(aeads) > self.MAX_CACHED:
                self._aeads.clear()
            self._aeads.update(aeads)

    def open(self, timeline_id: UUID, value: Any) -> Any:
        """A stored value as the reader sees it: opened if sealed, else as stored (legacy)."""
        if is_sealed(value):
            timeline = as_uuid(timeline_id)
            return open_sealed(self.aead_of(timeline), timeline, value)
        return value

    def seal(self, timeline_id: UUID, value: str) -> str:
        """A value sealed under the key the writer put for this timeline."""
        aead = self._aeads.get(timeline_id)
        if aead is None:
            raise LookupError(f"no member key for timeline {timeline_id}")
        return seal(aead, timeline_id, value)


class MemberMapper(Mapper[UUID]):
    """The library's mapper, sealing member-identifying fields on the way in and opening them
    on the way out (the domain never sees ciphertext, and does no I/O or randomness)."""

    def __init__(self, *args: Any, key_ring: KeyRing, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_ring = key_ring

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        fields = _SEALED_BY_CLASS.get(type(domain_event))
        if fields is None:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        timeline = state["originator_id"]
        ring = self.key_ring
        for name in fields:
            value = state[name]
            if value is not None:
                state[name] = ring.seal(timeline, value)
        sealed = object.__new__(type(domain_event))
        object.__setattr__(sealed, "__dict__", state)
        return super().to_stored_event(sealed)

    def to_domain_event(self, stored_event: Any) -> Any:
        event = super().to_domain_event(stored_event)
        fields = SEALED_FIELDS.get(stored_event.topic)
        if fields is not None:
            state = event.__dict__
            for name in fields:
                value = state.get(name)
                if is_sealed(value):
                    state[name] = self.key_ring.open(event.originator_id, value)
        elif stored_event.topic == MemberTimeline.Erased.TOPIC:
            self.key_ring.forget(event.originator_id)
        return event
