"""Where the read side stands: store, relay and projection positions, lags, statuses (docs/api.md).

Everything is read from the database (store heads, relay positions, tracking rows, worker
heartbeats), so the answer is right whichever process runs the relay and the workers. docs/api.md
wants one `store_position`: it is the sum of both applications' heads, and a projection's
`position` the sum of its tracked positions, so `lag` is the number of events not yet applied;
`sources` breaks both down per application.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import Application

from adapters.metrics import (
    PARKED_EVENTS,
    PROJECTION_LAG,
    PROJECTION_POSITION,
    RELAY_LAG,
    RELAY_POSITION,
    STORE_POSITION,
)
from adapters.postgres.read_side_state import ReadSideState
from adapters.read_side.store_reader import heads_of
from projections.base import Projection


@dataclass(frozen=True)
class SourceLag:
    """One source application's head, the position reached, and the difference."""

    store_position: int
    position: int
    lag: int


@dataclass(frozen=True)
class ProjectionStatus:
    """One projection's progress and health."""

    name: str
    version: int
    position: int
    lag: int
    status: str  # "live" | "catching_up" | "stopped"
    parked: int
    sources: dict[str, SourceLag]
    worker: str | None  # host:pid of the last worker heard from


@dataclass(frozen=True)
class ReadSideStatus:
    """The store's heads, the relay's positions and every projection's status."""

    store_position: int
    relay: dict[str, SourceLag]
    projections: list[ProjectionStatus]


StatusSource = Callable[[], ReadSideStatus]  # reads the status now (GET /v1/projections)


def lags(heads: dict[str, int], positions: dict[str, int]) -> dict[str, SourceLag]:
    """Per source: head, position reached, and how far behind."""
    return {app: SourceLag(head, positions.get(app, 0), max(0, head - positions.get(app, 0)))
            for app, head in heads.items()}


def get_read_side_status(sources: Mapping[str, Application[Any]], state: ReadSideState,
                         projections: Sequence[Projection]) -> ReadSideStatus:
    """Read every position now: the sources' heads, the relay's and each projection's."""
    heads = heads_of(sources)
    workers = state.list_workers()
    now = datetime.now(UTC)
    statuses = []
    for projection in projections:
        sources = lags(heads, projection.tracked_positions())
        worker = workers.get(projection.name)
        statuses.append(ProjectionStatus(
            name=projection.name, version=projection.version,
            position=sum(s.position for s in sources.values()),
            lag=sum(s.lag for s in sources.values()),
            status=worker.current_status(now) if worker else "stopped",
            parked=len(projection.list_parked()), sources=sources,
            worker=f"{worker.host}:{worker.pid}" if worker else None))
    return ReadSideStatus(store_position=sum(heads.values()),
                          relay=lags(heads, state.relay_positions()), projections=statuses)


def refresh_gauges(status: ReadSideStatus) -> None:
    """Set the position and lag gauges from a fresh status (before a scrape)."""
    for app, source in status.relay.items():
        STORE_POSITION.labels(app).set(source.store_position)
        RELAY_POSITION.labels(app).set(source.position)
        RELAY_LAG.labels(app).set(source.lag)
    for projection in status.projections:
        PARKED_EVENTS.labels(projection.name).set(projection.parked)
        for app, source in projection.sources.items():
            PROJECTION_POSITION.labels(projection.name, app).set(source.position)
            PROJECTION_LAG.labels(projection.name, app).set(source.lag)
