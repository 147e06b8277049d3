"""The attribution projection remembers what it committed, and trusts it only while it alone writes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.read_side.catch_up import read_envelopes
from projections.attribution.projection import AttributionProjection
from projections.attribution.records import (
    ActionState,
    AttributionChanges,
    AttributionSession,
    CampaignState,
    MemberFacts,
)
from projections.base import Envelope
from projections.memory_views import InMemoryAttributionView
from tests.projections.test_attribution_projection import busy_world, project, snapshot
from tests.projections.world import World, days


class _CountingSession(AttributionSession):
    """Counts the member ids each read asks the store about."""

    def __init__(self, inner: AttributionSession, asked: Counter[str]) -> None:
        self.inner = inner
        self.asked = asked

    def positions(self) -> dict[str, int]:
        return self.inner.positions()

    def get_actions(self, action_ids: Iterable[str]) -> dict[str, ActionState]:
        ids = list(action_ids)
        self.asked["actions"] += len(ids)
        return self.inner.get_actions(ids)

    def get_campaigns(self, campaign_ids: Iterable[str]) -> dict[str, CampaignState]:
        ids = list(campaign_ids)
        self.asked["campaigns"] += len(ids)
        return self.inner.get_campaigns(ids)

    def get_member_ids(self, timeline_ids: Iterable[str]) -> dict[str, str]:
        ids = list(timeline_ids)
        self.asked["member_ids"] += len(ids)
        return self.inner.get_member_ids(ids)

    def list_timelines_touching(self, since: Mapping[str, datetime | None]) -> set[str]:
        return self.inner.list_timelines_touching(since)

    def list_pending_timelines(self, action_ids: Iterable[str]) -> set[str]:
        return self.inner.list_pending_timelines(action_ids)

    def load_facts(self, timeline_ids: Iterable[str], *, with_conversions_only: bool = False
                   ) -> dict[str, MemberFacts]:
        ids = list(timeline_ids)
        self.asked["facts"] += len(ids)
        return self.inner.load_facts(ids, with_conversions_only=with_conversions_only)

    def save(self, changes: AttributionChanges, positions: Mapping[str, int]) -> None:
        if self.asked["fail_saves"] > 0:
            self.asked["fail_saves"] -= 1
            raise RuntimeError("the store went away mid-batch")
        self.inner.save(changes, positions)


class CountingView(InMemoryAttributionView):
    def __init__(self) -> None:
        super().__init__()
        self.asked: Counter[str] = Counter()

    @contextmanager
    def session(self) -> Iterator[AttributionSession]:
        with super().session() as inner:
            yield _CountingSession(inner, self.asked)


def new_events(world: World, projection: AttributionProjection) -> list[Envelope]:
    """Everything recorded since the projection's positions, catalogue first."""
    tracked = projection.tracked_positions()
    return [envelope for name, app in world.sources().items()
            for envelope in read_envelopes(name, app, tracked.get(name, 0), 10_000)]


def a_member_with_a_click(world: World) -> tuple[str, str]:
    campaign = world.campaign()
    action = world.action([campaign], counting="each")
    world.click("m1", campaign, world.now - days(2))
    return campaign, action


def a_converted_member_applied(world: World) -> tuple[CountingView, AttributionProjection,
                                                      str, str]:
    """m1 clicked and converted, applied in one batch by a projection on a counting view."""
    campaign, action = a_member_with_a_click(world)
    world.convert("m1", action, world.now - days(1))
    view = CountingView()
    projection = AttributionProjection(view)
    projection.process_batch(new_events(world, projection))
    return view, projection, campaign, action


def test_a_members_next_batch_is_answered_from_what_the_last_one_committed() -> None:
    world = World.in_memory()
    view, projection, campaign, action = a_converted_member_applied(world)
    view.asked.clear()

    world.convert("m1", action, world.now - days(1) + days(0.1))
    world.click("m1", campaign, world.now - days(0.5))
    world.convert("m1", action, world.now)
    projection.process_batch(new_events(world, projection))

    assert (view.asked["facts"], view.asked["member_ids"], view.asked["actions"],
            view.asked["campaigns"]) == (0, 0, 0, 0)
    assert snapshot(view) == snapshot(project(world))


def test_a_batch_another_writer_committed_is_read_from_the_store() -> None:
    world = World.in_memory()
    view, mine, campaign, action = a_converted_member_applied(world)
    other = AttributionProjection(view)

    world.click("m1", campaign, world.now - days(0.5))  # only the other writer sees this one
    other.process_batch(new_events(world, other))
    view.asked.clear()
    world.convert("m1", action, world.now)
    mine.process_batch(new_events(world, mine))

    assert view.asked["facts"] >= 1  # its memory predates the other writer's batch
    assert snapshot(view) == snapshot(project(world))


def test_a_failed_batch_forgets_everything_it_read() -> None:
    world = World.in_memory()
    view, projection, _, action = a_converted_member_applied(world)

    world.convert("m1", action, world.now)
    view.asked["fail_saves"] = 1
    with pytest.raises(RuntimeError):
        projection.process_batch(new_events(world, projection))
    assert projection.cache.positions is None and not projection.cache.members

    view.asked.clear()
    projection.process_batch(new_events(world, projection))  # the retry reads the store again
    assert view.asked["facts"] >= 1
    assert snapshot(view) == snapshot(project(world))


def test_the_oldest_members_are_forgotten_beyond_the_limit() -> None:
    world = World.in_memory()
    campaign, action = a_member_with_a_click(world)
    view = CountingView()
    projection = AttributionProjection(view)
    projection.cache.limit = 3
    for member in ("m2", "m3", "m4", "m5"):
        world.click(member, campaign, world.now - days(1))
    projection.process_batch(new_events(world, projection))
    assert len(projection.cache.members) == 3

    for member in ("m1", "m5"):
        world.convert(member, action, world.now)
    view.asked.clear()
    projection.process_batch(new_events(world, projection))
    assert view.asked["facts"] >= 1  # m1 was forgotten first and read back
    assert snapshot(view) == snapshot(project(world))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_batches_split_anyhow_between_two_writers_give_the_result_of_one_catch_up(
        data: st.DataObject) -> None:
    world = busy_world()
    events = [envelope for name, app in world.sources().items()
              for envelope in read_envelopes(name, app, 0, 10_000)]
    view = InMemoryAttributionView()
    writers = [AttributionProjection(view), AttributionProjection(view)]
    start = 0
    while start < len(events):
        size = data.draw(st.integers(1, 12))
        writer = writers[data.draw(st.integers(0, 1))]
        # Sometimes a batch overlaps what was applied (a redelivery): tracking skips it.
        again = data.draw(st.integers(0, min(start, 3)))
        writer.process_batch(events[start - again:start + size])
        start += size
    assert snapshot(view) == snapshot(project(world))
