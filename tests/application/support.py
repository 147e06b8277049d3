"""Helpers shared by the application tests: reading what the store holds."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate

from adapters.bootstrap import Container


def recorded_events(container: Container, member_id: str) -> list[Any]:
    """A member timeline's events as stored (decoded through the mapper, like any reader)."""
    app = container.ingestion
    timeline_id = app.find_timeline_id(member_id)
    if timeline_id is None:
        return []
    stored = app.recorder.select_events(timeline_id)
    return [app.mapper.to_domain_event(s) for s in stored]


def recorded_facts(container: Container, member_id: str) -> list[tuple[str, str]]:
    """(event type, event_id) of each touch and conversion stored for the member."""
    return [(type(e).__name__, e.event_id) for e in recorded_events(container, member_id)
            if hasattr(e, "event_id")]


def rebuilt_from_store(app: Any, aggregate_id: str) -> Any:
    """An aggregate rebuilt from its stored events alone (no cache), through the mapper."""
    stored = app.recorder.select_events(UUID(aggregate_id))
    return project_aggregate(None, (app.mapper.to_domain_event(s) for s in stored))
