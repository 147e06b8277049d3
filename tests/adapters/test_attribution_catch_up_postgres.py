"""Store catch-up of the attribution model on PostgreSQL: the fast path (light reads, msgspec
decoding, the next batch computed while the last is written) gives exactly the read model of
the library path applied one batch at a time, and yields to another writer."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import pytest
from psycopg import sql

from adapters.bootstrap import Container, ReadModels
from adapters.postgres.event_log import fast_sources
from adapters.read_side.catch_up import catch_up, read_envelopes
from adapters.read_side.pipelined_catch_up import PipelineConflict, apply_pipelined
from projections.attribution import members as attribution_members
from tests.adapters.test_read_models_postgres import everything, outcomes
from tests.projections.varied_world import build_varied_world
from tests.projections.world import World

TABLES = ("members", "touches", "conversions", "credits", "actions", "campaigns", "spend")


def model(database_url: str, schema: str, models: ReadModels, world: World) -> dict[str, Any]:
    """Every row of the attribution model, decoded where text could differ but not meaning."""
    found: dict[str, Any] = {"conversions": outcomes(everything(models, world))}
    with psycopg.connect(database_url, options="-c timezone=UTC") as conn:
        for name, order in (("members", "1"), ("touches", "1, 2, 6"), ("credits", "1, 2, 3"),
                            ("actions", "1"), ("campaigns", "1"), ("spend", "1, 2"),
                            ("tracking", "1")):
            columns = "timeline_id::text, event_id, campaign_id, kind, occurred_at, seq" \
                if name == "touches" else "*"
            found[name] = conn.execute(sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                sql.SQL(columns), sql.Identifier(schema, f"attribution_{name}"),
                sql.SQL(order))).fetchall()
    return found


def rebuild(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url) as conn:
        for name in TABLES:
            conn.execute(sql.SQL("TRUNCATE {}").format(
                sql.Identifier(schema, f"attribution_{name}")))
        conn.execute(sql.SQL("UPDATE {} SET position = 0").format(
            sql.Identifier(schema, "attribution_tracking")))


@pytest.fixture
def varied(pg_container: Container) -> World:
    return build_varied_world(World(pg_container.management, pg_container.ingestion))


@pytest.mark.parametrize(("batch_size", "members_kept"), [(5, None), (5, 2), (1000, None)])
def test_the_fast_pipelined_catch_up_equals_the_library_path_one_batch_at_a_time(
    pg_container: Container, read_models: ReadModels, varied: World, database_url: str,
    pg_schema: str, batch_size: int, members_kept: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if members_kept is not None:  # members created in the catch-up, then forgotten
        monkeypatch.setattr(attribution_members, "DEFAULT_LIMIT", members_kept)
    library = pg_container.sources
    catch_up(read_models.attribution, library, batch_size, fast=False, pipelined=False)
    expected = model(database_url, pg_schema, read_models, varied)
    assert len(expected["conversions"]) > 30 and len(expected["touches"]) > 20
    rebuild(database_url, pg_schema)
    applied = catch_up(read_models.attribution, fast_sources(library), batch_size)
    assert applied == sum(app.recorder.max_notification_id() for app in library.values())
    assert model(database_url, pg_schema, read_models, varied) == expected


def test_a_pipelined_catch_up_that_meets_another_writer_goes_on_batch_by_batch(
    pg_container: Container, read_models: ReadModels, varied: World, database_url: str,
    pg_schema: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "convtrack.projections")
    library = pg_container.sources
    catch_up(read_models.attribution, library, 1000, pipelined=False)
    expected = model(database_url, pg_schema, read_models, varied)
    rebuild(database_url, pg_schema)
    projection = read_models.attribution
    # After the catch-up computed its second page, another worker applies pages 3 and 4.
    others = [read_envelopes("management", library["management"], 0, 1000)]
    others += [read_envelopes("ingestion", library["ingestion"], n * 10, 10) for n in (0, 1)]
    calls = 0

    def on_batch(_: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            for page in others:
                projection.process_batch(page)

    catch_up(projection, fast_sources(library), 10, on_batch)
    assert "catch-up met another writer, going on batch by batch" in caplog.messages
    assert model(database_url, pg_schema, read_models, varied) == expected


def test_a_pipelined_catch_up_stops_writing_at_the_first_conflict(
    pg_container: Container, read_models: ReadModels, varied: World,
) -> None:
    projection = read_models.attribution
    sources = fast_sources(pg_container.sources)
    pages = [read_envelopes(name, app, 0, 1000) for name, app in sources.items()]
    first_facts = read_envelopes("ingestion", sources["ingestion"], 0, 10)

    def interfering() -> Any:
        yield pages[0]
        projection.process_batch(first_facts)  # another writer, meanwhile
        yield pages[1]
        yield pages[1]

    with pytest.raises(PipelineConflict):
        apply_pipelined(projection, interfering())
    assert projection.tracked_positions()["ingestion"] == first_facts[-1].position
