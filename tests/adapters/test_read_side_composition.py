"""build_read_models: in memory without a database, projections found by name, store catch-up."""

from __future__ import annotations

import pytest

from adapters.bootstrap import build_container, build_read_models, catch_up_from_store
from adapters.settings import Settings
from projections.attribution.records import ConversionFilter
from projections.memory_views import InMemoryAttributionView
from tests.projections.world import World, days


def test_an_in_memory_container_gets_in_memory_read_models_that_catch_up_from_its_store() -> None:
    container = build_container(Settings(), "token")
    models = build_read_models(container)
    assert isinstance(models.conversions, InMemoryAttributionView)
    world = World(container.management, container.ingestion)
    campaign = world.campaign()
    action = world.action([campaign])
    world.click("m1", campaign, world.now - days(1))
    world.convert("m1", action, world.now)
    applied = catch_up_from_store(models, container)
    assert applied > 0 and catch_up_from_store(models, container) == 0
    [record] = models.conversions.list_conversions(ConversionFilter(frozenset({world.tag_id})))
    assert record.outcome.status == "attributed"
    assert [p.name for p in models.projections] == ["attribution", "audit"]
    assert models.get_projection("audit") is models.audit
    with pytest.raises(KeyError):
        models.get_projection("nope")
