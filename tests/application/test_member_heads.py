"""A writer resumes members where it left them (ADR 0034), and still sees every other writer.

"Another writer" is a change this process's kept heads do not know: written here through the
library's `save` straight from a timeline read afresh, as another process would append it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import OperationalError

from adapters.bootstrap import Container
from application.access import Caller
from application.fact_ledger import Ledger
from application.ingestion import IngestionApp
from tests.application.support import recorded_facts
from tests.application.test_ingestion import NOW, World, conversion, make_world


@pytest.fixture
def world(container: Container, admin: Caller) -> World:
    return make_world(container, admin)


def heads_read(app: IngestionApp) -> list[list[str]]:
    """Spy: the members whose heads each later query reads."""
    reads: list[list[str]] = []
    select = app.ledger.select_member_heads

    def spy(member_ids: Sequence[str], *args: Any) -> Any:
        reads.append(list(member_ids))
        return select(member_ids, *args)

    app.recorder.select_member_heads = spy  # type: ignore[attr-defined]
    return reads


def another_writer(app: IngestionApp, member_id: str, change: str) -> UUID:
    """Append to the member's timeline as another process would; its id."""
    timeline = app.find_timeline(member_id)
    assert timeline is not None
    getattr(timeline, change)(actor="admin", occurred_at=NOW)
    erasing = change == "erase"
    app.save(timeline, ledger=Ledger(erasures=[member_id] if erasing else []))
    return timeline.id


def replays(app: IngestionApp, timeline_id: UUID) -> bool:
    """The stored timeline replays: its versions follow each other."""
    events = [app.mapper.to_domain_event(s) for s in app.recorder.select_events(timeline_id)]
    return project_aggregate(None, events) is not None


def test_a_member_recorded_by_this_process_is_resumed_without_reading_their_head(
    world: World
) -> None:
    app = world.ingestion
    app.record_conversions(world.owner, [conversion("c1", world.action_1, "m1")])
    reads = heads_read(app)
    app.record_conversions(world.owner, [conversion("c2", world.action_1, "m1"),
                                         conversion("c3", world.action_1, "m2")])
    assert reads == [["m2"]]
    assert recorded_facts(world.container, "m1") == [("ConversionRecorded", "c1"),
                                                     ("ConversionRecorded", "c2")]


def test_a_member_opted_out_by_another_writer_is_not_recorded_from_a_kept_head(
    world: World
) -> None:
    app = world.ingestion
    app.record_conversions(world.owner, [conversion("c1", world.action_1, "m1")])
    another_writer(app, "m1", "opt_out")
    results = app.record_conversions(world.owner, [conversion("c2", world.action_1, "m1")])
    assert [r.status for r in results] == ["accepted"]  # as anyone's (docs/attribution.md)
    assert recorded_facts(world.container, "m1") == [("ConversionRecorded", "c1")]
    timeline = app.find_timeline("m1")
    assert timeline is not None and timeline.opted_out


def test_an_opted_out_member_is_never_resumed_so_an_opt_in_elsewhere_counts(
    world: World, admin: Caller
) -> None:
    app = world.ingestion
    app.record_conversions(world.owner, [conversion("c1", world.action_1, "m1")])
    app.opt_out(admin, "m1")
    app.record_conversions(world.owner, [conversion("c2", world.action_1, "m1")])
    another_writer(app, "m1", "opt_in")
    app.record_conversions(world.owner, [conversion("c3", world.action_1, "m1")])
    assert recorded_facts(world.container, "m1") == [("ConversionRecorded", "c1"),
                                                     ("ConversionRecorded", "c3")]


def test_a_member_erased_by_another_writer_gets_a_new_timeline_despite_a_kept_head(
    world: World
) -> None:
    app = world.ingestion
    app.record_conversions(world.owner, [conversion("c1", world.action_1, "m1")])
    erased = another_writer(app, "m1", "erase")
    app.record_conversions(world.owner, [conversion("c2", world.action_1, "m1")])
    assert recorded_facts(world.container, "m1") == [("ConversionRecorded", "c2")]
    assert app.find_timeline_id("m1") not in (None, erased)
    assert replays(app, erased)


def test_a_batch_that_failed_after_its_commit_leaves_no_gap_in_the_timeline(
    world: World
) -> None:
    app = world.ingestion
    app.record_conversions(world.owner, [conversion("c1", world.action_1, "m1")])
    insert = app.recorder.insert_events

    def commit_then_fail(*args: Any, **kwargs: Any) -> Any:
        insert(*args, **kwargs)
        raise OperationalError("the connection broke after the commit")

    app.recorder.insert_events = commit_then_fail  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        app.record_conversions(world.owner, [conversion("c2", world.action_1, "m1")])
    app.recorder.insert_events = insert  # type: ignore[method-assign]
    app.record_conversions(world.owner, [conversion("c3", world.action_1, "m1")])
    assert recorded_facts(world.container, "m1") == [("ConversionRecorded", "c1"),
                                                     ("ConversionRecorded", "c2"),
                                                     ("ConversionRecorded", "c3")]
    timeline_id = app.find_timeline_id("m1")
    assert timeline_id is not None and replays(app, timeline_id)


def test_a_batch_saves_its_members_in_the_order_they_first_appear_resumed_or_not(
    world: World
) -> None:
    app = world.ingestion
    app.record_conversions(world.owner, [conversion("c1", world.action_1, "m1")])
    app.record_conversions(world.owner, [conversion("c2", world.action_1, "m2"),
                                         conversion("c3", world.action_1, "m1")])
    last = app.recorder.max_notification_id()
    assert last is not None
    notifications = app.recorder.select_notifications(start=last - 2, limit=3)
    ids = [app.find_timeline_id("m2"), app.find_timeline_id("m2"), app.find_timeline_id("m1")]
    assert [n.originator_id for n in notifications] == ids
