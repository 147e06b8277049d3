"""The audit projection on the in-memory view: every management event becomes a scoped row."""

from __future__ import annotations

from adapters.read_side.catch_up import catch_up, read_envelopes
from projections.audit import AuditFilter, AuditProjection
from projections.memory_views import InMemoryAuditView
from tests.projections.world import World


def audited(world: World) -> tuple[AuditProjection, InMemoryAuditView]:
    view = InMemoryAuditView()
    projection = AuditProjection(view)
    catch_up(projection, world.sources())
    return projection, view


def test_every_management_event_is_a_row_with_its_actor_and_no_secret() -> None:
    world = World.in_memory()
    campaign = world.campaign()
    world.set_status(campaign, "paused")
    _, view = audited(world)
    assert len(view.records) == world.management.recorder.max_notification_id()
    status = next(r for r in view.records if r.type == "Campaign.StatusChanged")
    assert status.actor == world.owner.actor and status.data == {"status": "paused"}
    assert all("api_key_hash" not in r.data for r in view.records)


def test_member_facts_are_not_audited() -> None:
    world = World.in_memory()
    world.click("m1", world.campaign(), world.now)
    _, view = audited(world)
    assert not any(r.type.startswith("MemberTimeline") for r in view.records)


def test_an_account_sees_its_own_aggregates_and_the_tags_it_can_see() -> None:
    world = World.in_memory()
    action = world.action([world.campaign()])
    stranger = world.account("stranger")
    other_campaign = world.campaign(owner=stranger)
    _, view = audited(world)
    assert world.owner.account_id and stranger.account_id
    mine = view.list_audit(AuditFilter(frozenset({world.owner.account_id}),
                                       frozenset({world.tag_id})))
    assert action in {r.aggregate_id for r in mine}
    assert other_campaign not in {r.aggregate_id for r in mine}
    viewer_only = view.list_audit(AuditFilter(frozenset(), frozenset({world.tag_id})))
    assert {r.aggregate_id for r in viewer_only} == {world.tag_id, action}


def test_the_same_batch_twice_adds_no_row() -> None:
    world = World.in_memory()
    world.campaign()
    view = InMemoryAuditView()
    projection = AuditProjection(view)
    batch = read_envelopes("management", world.management, 0, 100)
    projection.process_batch(batch)
    projection.process_batch(batch)
    assert len(view.records) == len(batch)
    assert projection.tracked_positions()["management"] == batch[-1].position
