"""Erasure by crypto-shredding (ADR 0027), on the in-memory store and on PostgreSQL: what names a
member is stored sealed under their key, and erasing them destroys the key and clears the
ledger, while their events stay and keep counting."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Mapper

from application.access import Caller
from application.errors import Forbidden
from domain.member_timeline import ERASED, MemberTimeline, timeline_id
from domain.validation import Invalid
from tests.application.support import recorded_facts
from adapters.bootstrap import Container
from tests.application.test_ingestion import (
    NOW,
    World,
    conversion,
    make_world,
    statuses,
    touch,
)


@pytest.fixture
def world(container: Container, admin: Caller) -> World:
    return make_world(container, admin)


def stored_of(world: World, timeline: UUID) -> list[Any]:
    return list(world.ingestion.recorder.select_events(timeline))


def decoded(world: World, timeline: UUID) -> list[Any]:
    mapper = world.ingestion.mapper
    return [mapper.to_domain_event(s) for s in stored_of(world, timeline)]


def record_member(world: World, admin: Caller, member: str, prefix: str) -> UUID:
    """A click, an impression and a conversion by click id for the member; their timeline."""
    world.ingestion.record_touches(admin, [
        touch(f"{prefix}-click", member, world.campaign, "click"),
        touch(f"{prefix}-view", member, world.campaign, "impression")])
    world.ingestion.record_conversions(world.owner, [
        conversion(f"{prefix}-conv", world.action_1, click_id=f"{prefix}-click")])
    found = world.ingestion.find_timeline_id(member)
    assert found is not None
    return found


def test_what_names_a_member_is_stored_sealed_and_read_back_plain(
    world: World, admin: Caller
) -> None:
    timeline = record_member(world, admin, "member-alice", "alice")
    raw = b"".join(s.state for s in stored_of(world, timeline))
    for secret in (b"member-alice", b"alice-click", b"alice-view"):
        assert secret not in raw
    assert b"ct1:" in raw
    events = decoded(world, timeline)
    assert events[0].member_id == "member-alice"
    assert [getattr(e, "event_id", None) for e in events[1:3]] == ["alice-click", "alice-view"]
    assert (events[3].event_id, events[3].click_id) == ("alice-conv", "alice-click")


def test_a_timeline_id_is_random_so_it_reveals_nothing_of_the_member_id(
    world: World, admin: Caller
) -> None:
    timeline = record_member(world, admin, "member-alice", "alice")
    assert timeline != timeline_id("member-alice")
    assert timeline.version == 4


def test_an_erased_members_events_stay_and_read_as_erased(world: World, admin: Caller) -> None:
    timeline = record_member(world, admin, "member-alice", "alice")
    before = stored_of(world, timeline)
    world.ingestion.erase(admin, "member-alice")
    after = decoded(world, timeline)
    assert len(after) == len(before) + 1
    assert [s.state for s in stored_of(world, timeline)[:len(before)]] == \
        [s.state for s in before]  # the log is immutable
    assert isinstance(after[-1], MemberTimeline.Erased)
    assert after[0].member_id == ERASED
    assert [after[1].event_id, after[2].event_id, after[3].click_id] == [ERASED] * 3
    # What does not name the member still reads, so the read side counts the same facts.
    assert (after[1].campaign_id, after[3].event_id, after[3].action_id) == (
        world.campaign, "alice-conv", world.action_1)
    assert world.ingestion.find_timeline_id("member-alice") is None
    assert world.ingestion.ledger.select_timeline_keys([timeline]) == {}


def test_another_member_is_untouched_by_an_erasure(world: World, admin: Caller) -> None:
    record_member(world, admin, "member-alice", "alice")
    bob = record_member(world, admin, "member-bob", "bob")
    world.ingestion.erase(admin, "member-alice")
    events = decoded(world, bob)
    assert events[0].member_id == "member-bob"
    assert events[1].event_id == "bob-click"
    assert world.ingestion.find_timeline_id("member-bob") == bob
    assert set(world.ingestion.ledger.find_fact_keys("touch", ["bob-click", "bob-view"])) == {
        "bob-click", "bob-view"}


def test_erasure_clears_every_ledger_entry_naming_the_member_or_their_clicks(
    world: World, admin: Caller
) -> None:
    record_member(world, admin, "member-alice", "alice")
    record_member(world, admin, "member-bob", "bob")
    ledger = world.ingestion.ledger
    # Repeats (duplicate ledger) and rejections (dead letters) naming each member.
    for prefix, member in (("alice", "member-alice"), ("bob", "member-bob")):
        assert statuses(world.ingestion.record_touches(admin, [
            touch(f"{prefix}-click", member, world.campaign)])) == ["duplicate"]
        assert statuses(world.ingestion.record_conversions(world.owner, [
            conversion(f"{prefix}-conv", world.action_1, click_id=f"{prefix}-click"),
            conversion(f"{prefix}-late", world.action_1, member_id=member,
                       occurred_at=NOW - timedelta(days=200)),
            conversion(f"{prefix}-bad", "no-such-action", click_id=f"{prefix}-click"),
        ])) == ["duplicate", "rejected", "rejected"]

    world.ingestion.erase(admin, "member-alice")

    def names_alice(entry: Any) -> bool:
        return any(s in repr(entry) for s in ("member-alice", "alice-click", "alice-view"))

    assert ledger.list_duplicates("touch", "alice-click") == []
    assert not any(names_alice(d) for d in ledger.list_dead_letters())
    assert len(ledger.list_dead_letters()) == 2  # bob's two
    assert len(ledger.list_duplicates("touch", "bob-click")) == 1
    # The member's touch keys go; their conversion keys stay, naming nobody.
    assert ledger.find_fact_keys("touch", ["alice-click", "alice-view"]) == {}
    (key,) = ledger.find_fact_keys(f"conversion:{world.tag_1}", ["alice-conv"]).values()
    assert key.member_id is None
    assert statuses(world.ingestion.record_conversions(world.owner, [
        conversion("alice-conv", world.action_1, member_id="member-x")])) == ["duplicate"]


def test_a_member_who_comes_back_after_erasure_starts_a_new_timeline(
    world: World, admin: Caller
) -> None:
    old = record_member(world, admin, "member-alice", "alice")
    world.ingestion.erase(admin, "member-alice")
    assert statuses(world.ingestion.record_touches(admin, [
        touch("alice-again", "member-alice", world.campaign)])) == ["accepted"]
    new = world.ingestion.find_timeline_id("member-alice")
    assert new is not None and new != old
    assert recorded_facts(world.container, "member-alice") == [("ClickRecorded", "alice-again")]
    assert decoded(world, old)[0].member_id == ERASED


def test_erasing_twice_or_erasing_an_unknown_member_is_accepted_and_changes_nothing_else(
    world: World, admin: Caller
) -> None:
    bob = record_member(world, admin, "member-bob", "bob")
    world.ingestion.erase(admin, "never-seen")
    world.ingestion.erase(admin, "member-bob")
    world.ingestion.erase(admin, "member-bob")
    erasures = [e for e in decoded(world, bob) if isinstance(e, MemberTimeline.Erased)]
    assert len(erasures) == 1
    assert world.ingestion.find_timeline_id("never-seen") is None


def test_only_the_admin_token_erases_and_only_a_member_id(world: World, admin: Caller) -> None:
    record_member(world, admin, "member-alice", "alice")
    with pytest.raises(Forbidden):
        world.ingestion.erase(world.owner, "member-alice")
    with pytest.raises(Invalid):
        world.ingestion.erase(admin, "bad\x00id")
    assert world.ingestion.find_timeline_id("member-alice") is not None


def test_erasure_of_an_opted_out_member_keeps_opt_out_working_for_others(
    world: World, admin: Caller
) -> None:
    world.ingestion.opt_out(admin, "member-carol")
    world.ingestion.erase(admin, "member-carol")
    world.ingestion.opt_out(admin, "member-dave")
    world.ingestion.record_touches(admin, [touch("dave-click", "member-dave", world.campaign)])
    assert recorded_facts(world.container, "member-dave") == []


def test_a_legacy_timeline_is_read_plain_resumed_with_a_key_and_erased(
    world: World, admin: Caller
) -> None:
    """Timelines stored before ADR 0027: hashed id, plain values. They are read as stored,
    new facts on them are sealed, and erasure shreds what was sealed and clears the ledger;
    the plain values stored before stay (the ADR's stated limit)."""
    app = world.ingestion
    legacy = MemberTimeline(member_id="member-old", actor="admin", occurred_at=NOW)
    legacy.record_touch("click", "old-click", world.campaign, actor="admin",
                        occurred_at=NOW - timedelta(days=2))
    plain = Mapper(transcoder=app.mapper.transcoder)
    app.recorder.insert_events([plain.to_stored_event(e) for e in legacy.collect_events()])
    uuid = timeline_id("member-old")

    assert app.find_timeline_id("member-old") == uuid
    assert statuses(app.record_touches(admin, [
        touch("old-new", "member-old", world.campaign)])) == ["accepted"]
    events = decoded(world, uuid)
    assert [events[0].member_id, events[1].event_id, events[2].event_id] == [
        "member-old", "old-click", "old-new"]
    assert b"old-new" not in stored_of(world, uuid)[2].state

    app.erase(admin, "member-old")
    events = decoded(world, uuid)
    assert isinstance(events[-1], MemberTimeline.Erased)
    assert events[2].event_id == ERASED
    assert app.find_timeline_id("member-old") is None
    assert app.ledger.find_fact_keys("touch", ["old-new"]) == {}
