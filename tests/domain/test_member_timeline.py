"""The MemberTimeline aggregate: touches, conversions, opt-out and opt-in; events and replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.member_timeline import (
    ERASED,
    MemberOptedOut,
    MemberTimeline,
    conversion_scope,
    timeline_id,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def replay(events: Sequence[Any]) -> MemberTimeline:
    """The aggregate rebuilt from its events alone."""
    timeline = project_aggregate(None, events)
    assert isinstance(timeline, MemberTimeline)
    return timeline


def pending(aggregate: Aggregate) -> list[Any]:
    """The events the aggregate recorded since last asked (typed loosely: each is concrete)."""
    return list(aggregate.collect_events())


def new_timeline(member_id: str = "m-1") -> MemberTimeline:
    return MemberTimeline(member_id=member_id, actor="admin", occurred_at=T0)


def convert(timeline: MemberTimeline, event_id: str = "c-1", **overrides: Any) -> None:
    fields: dict[str, Any] = {
        "event_id": event_id, "action_id": "act", "tag_id": "tag",
        "value": {"amount_minor": 100, "currency": "USD"}, "source": "api", "click_id": None,
        "actor": "account:a", "occurred_at": T1,
    }
    timeline.record_conversion(**(fields | overrides))


def test_legacy_timelines_keep_the_id_hashed_from_the_member_id() -> None:
    assert new_timeline("m-1").id == timeline_id("m-1") == MemberTimeline.create_id("m-1")
    assert timeline_id("m-1") != timeline_id("m-2")
    # Stable forever: timelines stored before ADR 0027 have it (UUID v5 of the member id).
    assert str(timeline_id("m-1")) == str(timeline_id("m-1"))
    assert timeline_id("m-1").version == 5


def test_a_timeline_takes_the_id_it_is_given() -> None:
    given = uuid4()
    timeline = MemberTimeline.start(given, "m-1", actor="admin", occurred_at=T0)
    assert timeline.id == given


def test_an_erased_timeline_forgets_its_member_and_its_event_names_nobody() -> None:
    timeline = new_timeline("m-1")
    timeline.erase(actor="admin", occurred_at=T1)
    timeline.erase(actor="admin", occurred_at=T1)  # erasing twice records nothing
    erased = [e for e in pending(timeline) if isinstance(e, MemberTimeline.Erased)]
    assert len(erased) == 1
    assert "m-1" not in repr(vars(erased[0]))
    assert (timeline.member_id, timeline.erased) == (ERASED, True)


def test_a_click_and_an_impression_record_their_own_events() -> None:
    timeline = new_timeline()
    timeline.record_touch("click", "t-1", "camp", actor="admin", occurred_at=T0)
    timeline.record_touch("impression", "t-2", "camp", actor="admin", occurred_at=T1)
    created, click, impression = pending(timeline)
    assert get_topic(type(created)) == "convtrack:MemberTimeline.Created"
    assert get_topic(type(click)) == "convtrack:MemberTimeline.ClickRecorded"
    assert get_topic(type(impression)) == "convtrack:MemberTimeline.ImpressionRecorded"
    assert (click.event_id, click.campaign_id, click.occurred_at) == ("t-1", "camp", T0)
    assert (impression.event_id, impression.occurred_at) == ("t-2", T1)
    assert (click.originator_version, impression.originator_version) == (2, 3)


def test_a_touch_records_when_it_occurred_and_when_it_was_recorded_separately() -> None:
    timeline = new_timeline()
    long_ago = T0 - timedelta(days=300)
    timeline.record_touch("click", "t-1", "camp", actor="admin", occurred_at=long_ago)
    click = pending(timeline)[-1]
    assert click.occurred_at == long_ago
    assert click.timestamp > long_ago  # recorded now, by the library


def test_a_conversion_records_its_action_tag_value_source_and_click() -> None:
    timeline = new_timeline()
    convert(timeline, source="tag", click_id="t-1")
    conversion = pending(timeline)[-1]
    assert get_topic(type(conversion)) == "convtrack:MemberTimeline.ConversionRecorded"
    assert (conversion.event_id, conversion.action_id, conversion.tag_id) == ("c-1", "act", "tag")
    assert conversion.value == {"amount_minor": 100, "currency": "USD"}
    assert (conversion.source, conversion.click_id) == ("tag", "t-1")
    assert (conversion.actor, conversion.occurred_at) == ("account:a", T1)


def test_an_opted_out_member_takes_no_touch_or_conversion() -> None:
    timeline = new_timeline()
    timeline.opt_out(actor="admin", occurred_at=T0)
    pending(timeline)
    with pytest.raises(MemberOptedOut):
        timeline.record_touch("click", "t-1", "camp", actor="admin", occurred_at=T1)
    with pytest.raises(MemberOptedOut):
        convert(timeline)
    assert pending(timeline) == []


def test_opting_in_again_resumes_recording() -> None:
    timeline = new_timeline()
    timeline.opt_out(actor="admin", occurred_at=T0)
    timeline.opt_in(actor="admin", occurred_at=T1)
    timeline.record_touch("impression", "t-1", "camp", actor="admin", occurred_at=T1)
    assert not timeline.opted_out
    assert type(pending(timeline)[-1]) is MemberTimeline.ImpressionRecorded


def test_a_second_opt_out_or_an_opt_in_without_opt_out_records_nothing() -> None:
    timeline = new_timeline()
    pending(timeline)
    timeline.opt_in(actor="admin", occurred_at=T0)
    timeline.opt_out(actor="admin", occurred_at=T0)
    timeline.opt_out(actor="admin", occurred_at=T1)
    events = pending(timeline)
    assert [get_topic(type(e)) for e in events] == ["convtrack:MemberTimeline.OptedOut"]


def test_facts_recorded_before_an_opt_out_stay_in_the_history() -> None:
    timeline = new_timeline()
    timeline.record_touch("click", "t-1", "camp", actor="admin", occurred_at=T0)
    timeline.opt_out(actor="admin", occurred_at=T1)
    events = pending(timeline)
    assert [type(e).__name__ for e in events] == ["Created", "ClickRecorded", "OptedOut"]


def test_replaying_the_events_rebuilds_the_same_timeline() -> None:
    timeline = new_timeline()
    timeline.record_touch("click", "t-1", "camp", actor="admin", occurred_at=T0)
    convert(timeline)
    timeline.opt_out(actor="admin", occurred_at=T1)
    timeline.opt_in(actor="admin", occurred_at=T1)
    timeline.record_touch("impression", "t-2", "camp", actor="admin", occurred_at=T1)
    timeline.opt_out(actor="admin", occurred_at=T1)
    rebuilt = replay(pending(timeline))
    assert rebuilt == timeline
    assert (rebuilt.member_id, rebuilt.version, rebuilt.opted_out) == ("m-1", 7, True)


@pytest.mark.parametrize("opted_out", [False, True])
def test_a_timeline_resumed_from_its_head_continues_where_the_history_ends(
    opted_out: bool,
) -> None:
    history = new_timeline()
    history.record_touch("click", "t-1", "camp", actor="admin", occurred_at=T0)
    if opted_out:
        history.opt_out(actor="admin", occurred_at=T0)
    resumed = MemberTimeline.from_head(history.id, "m-1", history.version, opted_out, T1)
    assert (resumed.id, resumed.version, resumed.opted_out) == (
        history.id, history.version, opted_out)
    if opted_out:
        with pytest.raises(MemberOptedOut):
            convert(resumed)
    else:
        convert(resumed)
        (conversion,) = pending(resumed)
        assert conversion.originator_version == history.version + 1


def test_a_conversion_is_idempotent_within_its_tag() -> None:
    # The same event_id is one conversion within a tag and another one in another tag.
    assert conversion_scope("tag-1") == conversion_scope("tag-1")
    assert conversion_scope("tag-1") != conversion_scope("tag-2")
    # The scope is stored in the duplicate ledger and shown by explanations: it never changes.
    assert conversion_scope("tag-1") == "conversion:tag-1"
