"""The read models' composition: projections and their query objects over one store.

Workers drive `ReadModels.projections` (the `Projection` protocol of projections/base.py); the
HTTP read routes use the query objects; tests and catch-up use `catch_up_from_store`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool

from adapters.bootstrap import Container
from adapters.postgres.attribution_store import PostgresAttributionView
from adapters.postgres.audit_store import PostgresAuditView
from adapters.postgres.read_models import create_read_models, open_pool
from adapters.postgres.report_queries import PostgresReportQueries
from projections.attribution import AttributionProjection
from projections.attribution_view import AttributionQueries
from projections.audit import AuditProjection, AuditView
from projections.base import Projection
from projections.catch_up import DEFAULT_BATCH_SIZE, EventSource, catch_up
from projections.memory_views import (
    InMemoryAttributionView,
    InMemoryAuditView,
    InMemoryReportQueries,
)
from projections.reporting import ReportQueries


@dataclass
class ReadModels:
    """The projections, and what the read API queries."""

    attribution: AttributionProjection
    audit: AuditProjection
    conversions: AttributionQueries
    reports: ReportQueries
    audit_trail: AuditView
    pool: ConnectionPool | None = field(default=None, repr=False)

    @property
    def projections(self) -> list[Projection]:
        """Every projection, for the workers (each name is stable: tables carry it)."""
        return [self.attribution, self.audit]

    def get_projection(self, name: str) -> Projection:
        """The projection with this name; KeyError if there is none."""
        for projection in self.projections:
            if projection.name == name:
                return projection
        raise KeyError(name)

    def close(self) -> None:
        """Release the read models' connections."""
        if self.pool is not None:
            self.pool.close()


def build_read_models(container: Container) -> ReadModels:
    """Read models in the container's database and schema, or in memory without a database."""
    settings = container.settings
    if not settings.database_url:
        attribution = InMemoryAttributionView()
        audit = InMemoryAuditView()
        return ReadModels(AttributionProjection(attribution), AuditProjection(audit),
                          attribution, InMemoryReportQueries(attribution), audit)
    pool = open_pool(settings.database_url, settings.pool_size)
    try:
        create_read_models(pool, settings.database_schema)
    except BaseException:
        pool.close()
        raise
    pg_attribution = PostgresAttributionView(pool, settings.database_schema)
    pg_audit = PostgresAuditView(pool, settings.database_schema)
    return ReadModels(AttributionProjection(pg_attribution), AuditProjection(pg_audit),
                      pg_attribution, PostgresReportQueries(pool, settings.database_schema),
                      pg_audit, pool)


def event_sources(container: Container) -> dict[str, EventSource]:
    """The event store's applications by source name, management first (see catch_up)."""
    sources: dict[str, Any] = {"management": container.management,
                               "ingestion": container.ingestion}
    return sources


def catch_up_from_store(read_models: ReadModels, container: Container,
                        batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Bring every projection up to the store's current positions; the events applied."""
    sources = event_sources(container)
    return sum(catch_up(p, sources, batch_size) for p in read_models.projections)
