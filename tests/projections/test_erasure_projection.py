"""The attribution read model and an erasure (ADR 0027): the member and their touch ids are
blanked, the counting stays, and a rebuild after the erasure gives the same read model."""

from __future__ import annotations

from application.access import Caller
from domain.member_timeline import ERASED
from projections.memory_views import InMemoryAttributionView
from tests.projections.test_attribution_projection import project, snapshot
from tests.projections.world import World, days


def two_members() -> tuple[World, InMemoryAttributionView, list[str], list[str]]:
    world = World.in_memory()
    live = InMemoryAttributionView()
    c1, c2 = world.campaign(), world.campaign()
    action = world.action([c1, c2])
    alice = [world.click("member-alice", c1, world.now - days(5)),
             world.impression("member-alice", c2, world.now - days(4))]
    bob = [world.click("member-bob", c2, world.now - days(5))]
    project(world, live)
    world.convert("member-alice", action, world.now - days(3))
    world.convert("member-bob", action, world.now - days(3))
    project(world, live)
    return world, live, alice, bob


def test_an_erased_member_is_blanked_and_their_conversions_still_count() -> None:
    world, live, alice, bob = two_members()
    credits_before = dict(live.credits)
    world.ingestion.erase(Caller.admin(), "member-alice")
    project(world, live)
    text = repr(snapshot(live)) + repr(live.members)
    assert "member-alice" not in text
    assert not any(touch_id in text for touch_id in alice)
    assert "member-bob" in text and bob[0] in text
    assert live.credits == credits_before  # what reports add up
    assert ERASED in {c.member_id for c in live.conversions.values()}


def test_a_rebuild_after_an_erasure_gives_the_same_read_model() -> None:
    world, live, _, _ = two_members()
    world.ingestion.erase(Caller.admin(), "member-alice")
    project(world, live)
    assert snapshot(project(world)) == snapshot(live)
    assert project(world).members == live.members


def test_a_member_erased_before_the_projection_saw_their_facts_is_never_shown() -> None:
    world, _, alice, _ = two_members()
    world.ingestion.erase(Caller.admin(), "member-alice")
    fresh = project(world)
    assert "member-alice" not in repr(snapshot(fresh)) + repr(fresh.members)
    assert not any(t in repr(snapshot(fresh)) for t in alice)
