"""Crypto-shredding of member-identifying values in the ingestion event store (ADR 0027).

Every member has a random 256-bit key and a random timeline id, kept in one row of the key
table (`member_keys`, written in the same transaction as the member's first events). The
mapper below seals the values of member-timeline events that name the member (the member id,
touch ids, a conversion's click id) with AES-GCM under that key before they are stored, and
opens them when events are read. Erasure deletes the row: what was sealed can then never be
read again, and it reads as `ERASED`; the rest of each event (times, campaigns, actions, values)
stays readable, so every report counts the same facts before and after.

A sealed value is the text `ct1:` + base64 of (12-byte nonce | ciphertext | tag), with the
timeline id as associated data, so a value cannot be moved to another timeline. Nonces never
repeat (a random field per process and a counter, NIST SP 800-38D 8.2.1), so the same id sealed
twice gives two texts: nothing in the store can be compared to find a member's events (lookups
go through the key table instead).

Randomness is drawn in bulk, not per value: `os.urandom` releases the GIL, and in a server
whose other threads hold it, each call waited for the GIL again (~70 µs instead of ~1 µs).
"""

from __future__ import annotations

import binascii
import itertools
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

_TOPICS = {cls: cls.TOPIC for cls in _SEALED_BY_CLASS}

KeyLoader = Callable[[list[UUID]], Mapping[UUID, bytes]]


class _Randomness:
    """Random bytes drawn from the OS in bulk, and nonces that never repeat in this process.

    Both are redrawn in a forked child (its parent's would repeat there).
    """

    POOL_BYTES = 64 * 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._pool = b""
        self._at = 0
        # The nonce's random field (per process, and per 2**32 nonces) with its counter: one
        # attribute, read once per nonce, so a thread never pairs a field with another's count.
        self._nonces = (os.urandom(NONCE_BYTES - 4), itertools.count())

    def take(self, n: int) -> bytes:
        """n fresh random bytes."""
        with self._lock:
            if self._pid != os.getpid():
                self._start()
            if self._at + n > len(self._pool):
                self._pool, self._at = os.urandom(max(self.POOL_BYTES, n)), 0
            chunk = self._pool[self._at:self._at + n]
            self._at += n
            return chunk

    def nonce(self) -> bytes:
        """A nonce this process never gave before: its random field and a counter."""
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._start()
        nonces = self._nonces
        field, counter = nonces
        count = next(counter)  # atomic: no two threads get the same count
        if count < 2**32:
            return field + count.to_bytes(4, "big")
        with self._lock:
            if self._nonces is nonces:
                self._nonces = (os.urandom(NONCE_BYTES - 4), itertools.count())
        return self.nonce()


_RANDOM = _Randomness()


def new_key() -> bytes:
    """A fresh random member key."""
    return _RANDOM.take(KEY_BYTES)


def new_timeline_id() -> UUID:
    """A fresh random timeline id (UUID version 4)."""
    return UUID(bytes=_RANDOM.take(16), version=4)


def is_sealed(value: Any) -> bool:
    """Whether a stored value is sealed (values stored before ADR 0027 are plain text)."""
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(aead: AESGCM, timeline_id: UUID, value: str) -> str:
    """The value encrypted under a member's key, bound to their timeline."""
    nonce = _RANDOM.nonce()
    sealed = aead.encrypt(nonce, value.encode(), timeline_id.bytes)
    return PREFIX + binascii.b2a_base64(nonce + sealed, newline=False).decode("ascii")


def open_sealed(aead: AESGCM | None, timeline_id: UUID, value: str) -> str:
    """The plain value; `ERASED` when the key is gone (or the text is not a sealed value)."""
    if aead is None:
        return ERASED
    try:
        raw = binascii.a2b_base64(value[len(PREFIX):])
        return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], timeline_id.bytes).decode()
    except (InvalidTag, binascii.Error, ValueError):
        return ERASED


def as_uuid(timeline_id: Any) -> UUID:
    """A timeline id as a UUID (the fast store reader gives them as text)."""
    return timeline_id if timeline_id.__class__ is UUID else UUID(str(timeline_id))


# A timeline's key as the ring keeps it: (key, associated data, cipher object or None until
# first needed, ~5 µs to build). A tuple of bytes and a cipher holds nothing the garbage
# collector tracks, so it untracks the tuple, and a ring of 200,000 keys costs nothing to a full
# collection; slotted objects per key, each tracked, once cost it ~130 ms (ADR 0034).
_Entry = tuple[bytes, bytes, "AESGCM | None"]
_UNKNOWN: Any = object()
assert len(PREFIX) == 4


def _slot(timeline_id: Any) -> Any:
    """Where the ring keeps a timeline: a UUID by its int (untracked, unlike the UUID), text
    (the fast store reader's form) as it is."""
    return timeline_id.int if timeline_id.__class__ is UUID else timeline_id


class KeyRing:
    """Member keys by timeline id: those the writer put for its batch, and those read back.

    A timeline's key never changes: it is made with the timeline and only ever deleted (erased).
    So keys and their cipher objects are kept across batches (bounded), found by the timeline
    id as a UUID or as text (the fast store reader's), and a timeline found without a key is
    erased for good: sealed values are only read after their key row committed, in the same
    transaction. A key is forgotten when its member is erased through this process or an
    `Erased` event is decoded. Another process's erasure is seen here at the latest when this
    one reads that `Erased` event; until then only events recorded before the erasure can be
    opened here, and the projection blanks what they showed (ADR 0027). The writer never relies
    on what is kept: it reads each batch's keys afresh.
    """

    MAX_KEPT = 200_000  # entries: each timeline may be kept under its UUID and its text

    def __init__(self, loader: KeyLoader) -> None:
        self._loader = loader
        self._keys: dict[Any, _Entry | None] = {}

    def put(self, timeline_id: UUID, key: bytes) -> None:
        """A key the writer holds for this batch (it is in the key table, or about to be)."""
        known = self._keys.get(timeline_id.int)
        if known is None or known[0] != key:
            self._keep({timeline_id.int: (key, timeline_id.bytes, None)})

    def holds(self, timeline_id: UUID) -> bool:
        """Whether a key of this timeline is kept here (the ring may drop keys any time)."""
        return self._keys.get(timeline_id.int) is not None

    def forget(self, timeline_id: Any) -> None:
        """Drop a key (its member was erased)."""
        timeline = as_uuid(timeline_id)
        self._keys.pop(timeline.int, None)
        self._keys.pop(str(timeline), None)

    def prefetch(self, timeline_ids: Iterable[Any]) -> None:
        """Read the keys of these timelines that are not known yet, in one query."""
        missing = self.unknown(timeline_ids)
        if missing:
            self._load(missing)

    def unknown(self, timeline_ids: Iterable[Any]) -> list[Any]:
        """Those of these timelines whose key (or its absence) is not known here yet."""
        keys = self._keys
        return list({t for t in timeline_ids if _slot(t) not in keys})

    def _entry(self, timeline_id: Any) -> _Entry | None:
        slot = _slot(timeline_id)
        try:
            return self._keys[slot]
        except KeyError:
            self._load([timeline_id])
            return self._keys.get(slot)

    def _cipher(self, slot: Any, entry: _Entry) -> AESGCM:
        aead = entry[2]
        if aead is None:
            aead = AESGCM(entry[0])
            self._keys[slot] = (entry[0], entry[1], aead)
        return aead

    def aead_of(self, timeline_id: Any) -> AESGCM | None:
        """The cipher of a timeline's key; None if it has none (erased)."""
        entry = self._entry(timeline_id)
        return None if entry is None else self._cipher(_slot(timeline_id), entry)

    def _load(self, timeline_ids: list[Any]) -> None:
        # Each id is kept in the form it was asked for (UUID or text), so later lookups of
        # the same form need no conversion.
        asked = {as_uuid(t): _slot(t) for t in timeline_ids}
        found = self._loader(list(asked))
        self._keep({slot: None if (key := found.get(uuid)) is None else (key, uuid.bytes, None)
                    for uuid, slot in asked.items()})

    def _keep(self, entries: Mapping[Any, _Entry | None]) -> None:
        if len(self._keys) + len(entries) > self.MAX_KEPT:
            self._keys.clear()
        self._keys.update(entries)

    def open(self, timeline_id: Any, value: Any) -> Any:
        """A stored value as the reader sees it: opened if sealed, else as stored (legacy)."""
        return self.open_sealed(timeline_id, value) if is_sealed(value) else value

    def open_sealed(self, timeline_id: Any, value: str) -> str:
        """A sealed value opened; `ERASED` if its key is gone (or it is not a sealed value)."""
        slot = _slot(timeline_id)
        entry = self._keys.get(slot, _UNKNOWN)
        if entry is _UNKNOWN:
            entry = self._entry(timeline_id)
        if entry is None:
            return ERASED
        aead = entry[2] or self._cipher(slot, entry)
        try:
            raw = binascii.a2b_base64(value[4:])  # after PREFIX
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], entry[1]).decode()
        except (InvalidTag, binascii.Error, ValueError):
            return ERASED

    def seal(self, timeline_id: UUID, value: str) -> str:
        """A value sealed under the key the writer put for this timeline."""
        slot = timeline_id.int
        entry = self._keys.get(slot)
        if entry is None:
            raise LookupError(f"no member key for timeline {timeline_id}")
        aead = entry[2] or self._cipher(slot, entry)
        nonce = _RANDOM.nonce()
        sealed = aead.encrypt(nonce, value.encode(), entry[1])
        return PREFIX + binascii.b2a_base64(nonce + sealed, newline=False).decode("ascii")


class MemberMapper(Mapper[UUID]):
    """The library's mapper, sealing member-identifying fields on the way in and opening them
    on the way out (the domain never sees ciphertext, and does no I/O or randomness)."""

    def __init__(self, *args: Any, key_ring: KeyRing, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.cipher is not None or self.compressor is not None:
            raise ValueError("member events are sealed field by field, not ciphered whole")
        self.key_ring = key_ring

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        fields = _SEALED_BY_CLASS.get(type(domain_event))
        if fields is None:
            return super().to_stored_event(domain_event)
        # The library's to_stored_event (eventsourcing 9.5), with the fields sealed in its copy
        # of the event's state; these events have no class_version, cipher or compressor.
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        ring = self.key_ring
        for name in fields:
            value = state[name]
            if value is not None:
                state[name] = ring.seal(originator_id, value)
        return StoredEvent(originator_id=originator_id, originator_version=originator_version,
                           topic=_TOPICS[type(domain_event)],
                           state=self.transcoder.encode(state))

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
