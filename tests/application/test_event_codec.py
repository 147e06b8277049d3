"""The ingestion transcoder writes exactly the library's bytes, faster (ADR 0034).

Stored events are read by the library's decoder, by the read side's msgspec decoders, and as
stored bytes on NATS: the same bytes whichever transcoder wrote them is what keeps every reader,
and a rollback, working without an upcast.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from application.event_codec import MsgspecTranscoder, _isoformat
from application.ingestion import IngestionApp
from application.management import ManagementApp
from application.member_keys import KeyRing, MemberMapper, new_key, new_timeline_id
from domain.member_timeline import MemberTimeline


def transcoders() -> tuple[JSONTranscoder, MsgspecTranscoder]:
    """The library's transcoder and ours, with the transcodings every application registers."""
    library, ours = JSONTranscoder(), MsgspecTranscoder()
    for transcoder in (library, ours):
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            transcoder.register(transcoding)
    return library, ours


def test_every_code_point_is_written_as_the_library_writes_it() -> None:
    library, ours = transcoders()
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    for start in range(0, len(points), 4096):
        state = {"event_id": "".join(points[start:start + 4096]), "n": start}
        assert ours.encode(state) == library.encode(state)


def test_utc_times_are_written_as_isoformat_writes_them_in_every_year() -> None:
    rng = random.Random(7)
    for _ in range(100_000):
        moment = datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28),
                          rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
                          rng.choice([0, rng.randint(0, 999_999), rng.randint(1, 9) * 100_000]),
                          tzinfo=UTC)
        assert _isoformat(moment) == moment.isoformat()


@pytest.mark.parametrize("value", [
    datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(seconds=-61))),
    datetime(2026, 3, 1, 12, 0),  # naive
    uuid4(), Decimal("1.10"), 1.5, float("nan"), (1, "a"), 2**70, -(2**63), True, None,
    {"amount_minor": 1, "currency": "EUR"}, [datetime(1, 1, 1, tzinfo=UTC), uuid4(), [Decimal(2)]],
    {1: "int key"}, {"nested": {"deeper": [{"at": datetime(9999, 12, 31, tzinfo=UTC)}]}},
])
def test_any_value_is_written_as_the_library_writes_it(value: Any) -> None:
    library, ours = transcoders()
    state = {"timestamp": datetime.now(UTC), "value": value, "click_id": None}
    assert ours.encode(state) == library.encode(state)
    assert ours.decode(ours.encode(state)) == library.decode(library.encode(state)) \
        or value != value  # NaN is never equal to itself


def test_a_string_subclass_or_a_cycle_is_left_to_the_library() -> None:
    library, ours = transcoders()

    class Tag(str):
        pass

    assert ours.encode({"tag": Tag("x")}) == library.encode({"tag": Tag("x")})
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(ValueError):
        ours.encode(cycle)


def test_member_timeline_events_are_stored_as_the_librarys_mapper_stores_them() -> None:
    app = IngestionApp(ManagementApp())
    assert isinstance(app.mapper.transcoder, MsgspecTranscoder)
    library, _ = transcoders()
    ring = KeyRing(lambda ids: {})
    timeline_id = new_timeline_id()
    ring.put(timeline_id, new_key())
    now = datetime.now(UTC)
    timeline = MemberTimeline.start(timeline_id, "member-1", "admin", now)
    timeline.record_touch("click", "click-1", "camp", actor="admin", occurred_at=now)
    timeline.record_conversion("conv-1", "act", "tag", {"amount_minor": 5, "currency": "EUR"},
                               "api", "click-1", actor="account:a", occurred_at=now)
    timeline.record_conversion("conv-2", "act", "tag", None, "tag", None, actor="service:x",
                               occurred_at=now - timedelta(days=3))
    timeline.opt_out(actor="admin", occurred_at=now)
    events = timeline.collect_events()
    ours = MemberMapper(transcoder=app.mapper.transcoder, key_ring=ring)
    theirs = MemberMapper(transcoder=library, key_ring=ring)
    for event in events:
        stored, expected = ours.to_stored_event(event), theirs.to_stored_event(event)
        # Sealed values differ by their nonces; everything else is the same bytes.
        assert stored.topic == expected.topic
        opened_ours = theirs.to_domain_event(stored)
        opened_theirs = theirs.to_domain_event(expected)
        assert opened_ours.__dict__ == opened_theirs.__dict__ == event.__dict__
        assert len(stored.state) == len(expected.state)
    unsealed = [e for e in events if type(e).__name__ in ("ConversionRecorded", "OptedOut")
                and getattr(e, "click_id", None) is None]
    assert len(unsealed) == 2
    for event in unsealed:
        assert ours.to_stored_event(event).state == theirs.to_stored_event(event).state
