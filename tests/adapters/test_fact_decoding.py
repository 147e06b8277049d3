"""Member-timeline facts decoded with msgspec: the same events, and the same read model, as the
library's mapper gives."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest

from adapters.read_side import fact_decoding
from application.access import Caller
from domain.member_timeline import ERASED
from adapters.read_side.catch_up import catch_up
from adapters.read_side.fact_decoding import FAST_TOPICS, FactDecoder
from projections.attribution.projection import AttributionProjection
from projections.memory_views import InMemoryAttributionView
from tests.projections.test_attribution_projection import snapshot
from tests.projections.varied_world import build_varied_world
from tests.projections.world import World, days

FAST_CLASSES = (fact_decoding.TimelineCreated, fact_decoding.ImpressionRecorded,
                fact_decoding.ClickRecorded, fact_decoding.ConversionRecorded)


@pytest.fixture(scope="module")
def world() -> World:
    return build_varied_world(World.in_memory())


def _same(fast: Any, library: Any) -> None:
    for name, value in vars(library).items():
        got = getattr(fast, name)
        assert got == value, name
        if isinstance(value, datetime):
            assert got.utcoffset() == value.utcoffset(), name


def test_fast_decoding_gives_the_library_events_field_for_field(world: World) -> None:
    app = world.ingestion
    decoder = FactDecoder(app.mapper)
    fast_count = 0
    for notification in app.recorder.select_notifications(1, 10_000):
        library = app.mapper.to_domain_event(notification)
        fast = decoder.decode_notification(notification)
        if notification.topic in FAST_TOPICS and isinstance(fast, FAST_CLASSES):
            fast_count += 1
            assert fast.TOPIC == getattr(type(library), "TOPIC")
            _same(fast, library)
        else:
            assert type(fast) is type(library)
            assert vars(fast) == vars(library)
    assert fast_count > 50


def test_a_time_with_an_offset_in_seconds_is_left_to_the_library(world: World) -> None:
    app = world.ingestion
    decoder = FactDecoder(app.mapper)
    odd = [n for n in app.recorder.select_notifications(1, 10_000)
           if b'+01:02:03"' in n.state]
    assert odd
    for notification in odd:
        assert type(decoder.decode_notification(notification)) is \
            type(app.mapper.to_domain_event(notification))


@pytest.mark.parametrize("state", [
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00+00:00"},'
    b'"actor":"admin","occurred_at":{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00'
    b'+00:00"},"event_id":"e","campaign_id":"c","extra":1}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00+00:00"},'
    b'"actor":"admin","occurred_at":{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00'
    b'+00:00"},"event_id":"e","campaign_id":"c","class_version":2}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00+00:00"},'
    b'"actor":"admin","occurred_at":{"_type_":"other","_data_":"x"},"event_id":"e",'
    b'"campaign_id":"c"}',
])
def test_a_state_not_exactly_as_the_library_writes_it_goes_to_the_mapper(state: bytes) -> None:
    calls = []

    class Mapper:
        cipher = compressor = None
        transcoder = World.in_memory().ingestion.mapper.transcoder

        def to_domain_event(self, stored: Any) -> str:
            calls.append(stored)
            return "from the mapper"

    decoded = FactDecoder(Mapper()).decode(fact_decoding.ClickRecorded.TOPIC, uuid4(), 2, state)
    assert decoded == "from the mapper" and len(calls) == 1


def test_a_mapper_with_a_compressor_is_never_bypassed(world: World) -> None:
    class Compressing:
        compressor = object()
        cipher = None
        transcoder = world.ingestion.mapper.transcoder

    assert not FactDecoder(Compressing()).fast
    assert FactDecoder(world.ingestion.mapper).fast


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_the_read_model_from_fast_decoding_equals_the_library_one(world: World,
                                                                  batch_size: int) -> None:
    models = []
    for fast in (True, False):
        view = InMemoryAttributionView()
        catch_up(AttributionProjection(view), world.sources(), batch_size, fast=fast)
        models.append(snapshot(view))
    assert models[0] == models[1]
    assert len(models[0]["conversions"]) > 30


def test_fast_decoding_opens_sealed_values_and_reads_a_shredded_key_as_erased() -> None:
    """ADR 0027: the msgspec path opens member-identifying values as the mapper does, with
    the keys of a page read in one query, and reads an erased member's as `erased`."""
    world = World.in_memory()
    campaign = world.campaign()
    action = world.action([campaign])
    for member in ("member-alice", "member-bob"):
        world.click(member, campaign, world.now - days(2))
        world.convert(member, action, world.now - days(1))
    world.ingestion.erase(Caller.admin(), "member-alice")
    app = world.ingestion
    notifications = app.recorder.select_notifications(1, 10_000)
    decoder = FactDecoder(app.mapper)
    decoder.prefetch(notifications)
    members = []
    for notification in notifications:
        fast = decoder.decode_notification(notification)
        library = app.mapper.to_domain_event(notification)
        if isinstance(fast, FAST_CLASSES):
            _same(fast, library)
        if isinstance(fast, fact_decoding.TimelineCreated):
            members.append(fast.member_id)
    assert sorted(members) == [ERASED, "member-bob"]
