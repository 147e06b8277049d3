"""Operations endpoints: where the read side stands (`/v1/projections`) and `/metrics`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig

from adapters.metrics import render_metrics
from adapters.read_side.status import ReadSideStatus, SourceLag, StatusSource, refresh_gauges
from application.access import Caller



class SourceLagOut(msgspec.Struct):
    store_position: int
    position: int
    lag: int


class ProjectionOut(msgspec.Struct):
    name: str
    version: int
    position: int
    lag: int
    status: str
    parked: int
    sources: dict[str, SourceLagOut]
    worker: str | None


class ProjectionsOut(msgspec.Struct):
    store_position: int
    projections: list[ProjectionOut]
    relay: dict[str, SourceLagOut]


def _sources(sources: dict[str, SourceLag]) -> dict[str, SourceLagOut]:
    return {app: SourceLagOut(s.store_position, s.position, s.lag) for app, s in sources.items()}


def projections_out(status: ReadSideStatus) -> ProjectionsOut:
    """The status in docs/api.md's shape, with per-source details as extension fields."""
    return ProjectionsOut(
        store_position=status.store_position,
        projections=[ProjectionOut(p.name, p.version, p.position, p.lag, p.status, p.parked,
                                   _sources(p.sources), p.worker) for p in status.projections],
        relay=_sources(status.relay))


@get("/v1/projections", sync_to_thread=True, tags=["operations"],
     summary="Store position, each projection's position, lag, status and parked events")
def list_projections(caller: Caller, read_side_status: StatusSource) -> ProjectionsOut:
    """`store_position` and `position` are sums over both source logs; `lag` is the
    number of events recorded but not yet applied (0: every earlier write is visible);
    `sources` gives the same per application, `relay` how far the relay has published."""
    return projections_out(read_side_status())


@get("/metrics", sync_to_thread=True, tags=["operations"], security=[],
     summary="Prometheus metrics", media_type="text/plain")
def metrics(read_side_status: StatusSource) -> Response[bytes]:
    """Facts by outcome, relay and consumer lag, parked events, projection latency, HTTP."""
    refresh_gauges(read_side_status())
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)


OPS_ROUTES: list[Any] = [list_projections, metrics]


def http_metrics_middleware() -> DefineMiddleware:
    """Request counts and latency per route (litestar's Prometheus middleware)."""
    # group_path: label by route template, not by the raw path, so ids do not explode the series.
    return PrometheusConfig(app_name="convtrack", prefix="convtrack", group_path=True,
                            exclude=["/metrics"]).middleware
