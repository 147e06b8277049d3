"""Sealing member-identifying values under a member's key (ADR 0027), without any store."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper

from application.member_keys import (
    PREFIX,
    KeyRing,
    MemberMapper,
    is_sealed,
    new_key,
    open_sealed,
    seal,
)
from domain.member_timeline import ERASED, MemberTimeline

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def transcoder() -> JSONTranscoder:
    coder = JSONTranscoder()
    coder.register(DatetimeAsISO())
    return coder


def ring_with(keys: dict[UUID, bytes]) -> KeyRing:
    return KeyRing(lambda ids: {t: keys[t] for t in ids if t in keys})


def test_a_sealed_value_opens_with_its_key_and_timeline_only() -> None:
    key, timeline = new_key(), uuid4()
    sealed = seal(AESGCM(key), timeline, "member-1")
    assert is_sealed(sealed) and sealed.startswith(PREFIX) and "member-1" not in sealed
    assert open_sealed(AESGCM(key), timeline, sealed) == "member-1"
    assert open_sealed(AESGCM(key), uuid4(), sealed) == ERASED  # moved to another timeline
    assert open_sealed(AESGCM(new_key()), timeline, sealed) == ERASED  # another key
    assert open_sealed(None, timeline, sealed) == ERASED  # the key is gone


def test_the_same_value_sealed_twice_gives_two_texts() -> None:
    aead, timeline = AESGCM(new_key()), uuid4()
    assert seal(aead, timeline, "member-1") != seal(aead, timeline, "member-1")


def test_the_mapper_round_trip_gives_the_event_back_and_stores_no_plain_id() -> None:
    timeline = MemberTimeline.start(uuid4(), "member-1", actor="admin", occurred_at=T0)
    timeline.record_touch("click", "click-1", "camp", actor="admin", occurred_at=T0)
    timeline.record_conversion("conv-1", "act", "tag", None, "api", "click-1", actor="acc",
                               occurred_at=T0)
    events = list(timeline.collect_events())
    keys = {timeline.id: new_key()}
    writer = ring_with({})
    writer.put(timeline.id, keys[timeline.id])
    stored = [MemberMapper(transcoder=transcoder(), key_ring=writer).to_stored_event(e)
              for e in events]
    assert not any(b"member-1" in s.state or b"click-1" in s.state for s in stored)
    assert b"conv-1" in stored[2].state  # the advertiser's event id is not the member's
    reader = MemberMapper(transcoder=transcoder(), key_ring=ring_with(keys))
    assert [vars(reader.to_domain_event(s)) for s in stored] == [vars(e) for e in events]


def test_a_shredded_key_reads_as_erased_and_the_rest_of_the_event_stays() -> None:
    timeline = MemberTimeline.start(uuid4(), "member-1", actor="admin", occurred_at=T0)
    timeline.record_touch("click", "click-1", "camp", actor="admin", occurred_at=T0)
    writer = ring_with({})
    writer.put(timeline.id, new_key())
    mapper = MemberMapper(transcoder=transcoder(), key_ring=writer)
    stored = [mapper.to_stored_event(e) for e in timeline.collect_events()]
    reader = MemberMapper(transcoder=transcoder(), key_ring=ring_with({}))
    created, click = (reader.to_domain_event(s) for s in stored)
    assert (created.member_id, click.event_id, click.campaign_id) == (ERASED, ERASED, "camp")


def test_values_stored_before_sealing_are_read_as_stored() -> None:
    timeline = MemberTimeline(member_id="member-1", actor="admin", occurred_at=T0)
    stored = [Mapper(transcoder=transcoder()).to_stored_event(e)
              for e in timeline.collect_events()]
    reader = MemberMapper(transcoder=transcoder(), key_ring=ring_with({}))
    assert reader.to_domain_event(stored[0]).member_id == "member-1"


def test_the_ring_reads_a_pages_keys_in_one_query_and_forgets_an_erased_one() -> None:
    keys = {uuid4(): new_key() for _ in range(3)}
    queries: list[list[UUID]] = []

    def load(ids: list[UUID]) -> dict[UUID, bytes]:
        queries.append(ids)
        return {t: keys[t] for t in ids if t in keys}

    ring = KeyRing(load)
    ring.prefetch([*keys, *keys])
    assert len(queries) == 1 and set(queries[0]) == set(keys)
    first = next(iter(keys))
    assert ring.aead_of(first) is not None and len(queries) == 1
    del keys[first]
    ring.forget(first)
    assert ring.aead_of(first) is None


def test_nonces_never_repeat_and_fresh_keys_and_timeline_ids_differ() -> None:
    from application.member_keys import _RANDOM, new_timeline_id

    nonces = {_RANDOM.nonce() for _ in range(10_000)}
    assert len(nonces) == 10_000 and all(len(n) == 12 for n in nonces)
    assert len({new_key() for _ in range(1000)}) == 1000
    ids = {new_timeline_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(i.version == 4 for i in ids)
