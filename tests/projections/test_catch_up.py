"""Catch-up from the store: bounded by the heads a worker saw, the rest applied later; the
garbage collector left as it was."""

from __future__ import annotations

import gc

from adapters.read_side.catch_up import catch_up
from projections.attribution.projection import AttributionProjection
from projections.memory_views import InMemoryAttributionView
from tests.projections.test_attribution_projection import snapshot
from tests.projections.varied_world import build_varied_world
from tests.projections.world import World


def test_a_catch_up_until_given_heads_stops_there_and_the_next_one_finishes() -> None:
    world = build_varied_world(World.in_memory())
    heads = {name: app.recorder.max_notification_id() for name, app in world.sources().items()}
    view = InMemoryAttributionView()
    projection = AttributionProjection(view)
    first = catch_up(projection, world.sources(), 10,
                     until={"management": heads["management"], "ingestion": 40})
    assert projection.tracked_positions() == {"management": heads["management"],
                                              "ingestion": 40}
    second = catch_up(projection, world.sources(), 10)
    assert first + second == sum(heads.values())
    whole = InMemoryAttributionView()
    catch_up(AttributionProjection(whole), world.sources(), 1000)
    assert snapshot(view) == snapshot(whole)


def test_a_catch_up_leaves_the_garbage_collector_as_it_found_it() -> None:
    world = World.in_memory()
    world.click("m1", world.campaign(), world.now)
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    catch_up(AttributionProjection(InMemoryAttributionView()), world.sources(), 1,
             lambda _: seen.append(gc.get_threshold()))
    assert gc.get_threshold() == before
    assert seen and all(threshold[0] >= 20_000 for threshold in seen)
