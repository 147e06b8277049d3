"""Operations endpoints: where the read side stands (`/v1/projections`) and `/metrics`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.types import Receive, Scope, Send

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


# group_path: label by route template, not by the raw path, so ids do not explode the series.
_PROMETHEUS = PrometheusConfig(app_name="convtrack", prefix="convtrack", group_path=True,
                               exclude=["/metrics"])


def http_metrics_middleware() -> DefineMiddleware:
    """Request counts and latency per route (litestar's Prometheus middleware)."""
    return _PROMETHEUS.middleware


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise NotImplementedError  # RouteMetrics uses the middleware's metrics, never its app


class RouteMetrics:
    """The series `http_metrics_middleware` keeps (requests in progress, requests, duration,
    errors), for a route answered outside litestar's routing (`/collect`, served directly):
    the middleware's own metrics and labels, their children looked up once each."""

    def __init__(self, path: str) -> None:
        self._middleware = PrometheusMiddleware(app=_no_app, config=_PROMETHEUS)
        self._path = path
        self._in_progress: dict[str, Any] = {}
        self._answered: dict[tuple[str, int], tuple[Any, Any]] = {}

    def _labels(self, method: str, status: int) -> dict[str, str | int | float]:
        # The middleware's default labels, in its order (they name the metrics' label names).
        return {"method": method, "path": self._path, "status_code": status,
                "app_name": _PROMETHEUS.app_name}

    def _progress(self, method: str) -> Any:
        found = self._in_progress.get(method)
        if found is None:
            # Labelled 200, as the middleware does before the status is known.
            labels = self._labels(method, 200)
            found = self._in_progress[method] = self._middleware.requests_in_progress(
                labels).labels(*labels.values())
        return found

    def started(self, method: str) -> None:
        """A request began."""
        self._progress(method).inc()

    def finished(self, method: str, status: int, seconds: float) -> None:
        """A request was answered with `status` after `seconds`."""
        self._progress(method).dec()
        labels = self._labels(method, status)
        if status >= 500:  # never from /collect, which answers every fire alike
            self._middleware.requests_error_count(labels).labels(*labels.values()).inc()
        found = self._answered.get((method, status))
        if found is None:
            found = self._answered[(method, status)] = (
                self._middleware.request_count(labels).labels(*labels.values()),
                self._middleware.request_time(labels).labels(*labels.values()))
        count, duration = found
        count.inc()
        duration.observe(seconds)
