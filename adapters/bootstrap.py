"""The composition root: the whole service built from settings, and nowhere else (ADR 0018).

`build_container` makes the write side (the management and ingestion applications on the
event store), the projection sources, the read side's state store and the NATS topology;
`build_read_models` the projections and their query objects; `build_app` the HTTP app over
both, and `read_side_parts` what the relay and workers run on. `convtrack serve`,
`convtrack worker`, the ASGI app, `bench/` and the test fixtures all start here; the modules
they wire take explicit collaborators and never import this one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from litestar import Litestar
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from adapters.http.admission import AdmissionLimits, TokenBuckets
from adapters.http.app import HealthProbe, HttpServices, create_app
from adapters.http.collect_routes import CollectGate, member_admission
from adapters.nats.fire_publisher import FirePublisher
from adapters.nats.subjects import Topology
from adapters.postgres.attribution_store import PostgresAttributionView
from adapters.postgres.audit_store import PostgresAuditView
from adapters.postgres.deployment import deployment_id, new_deployment_id
from adapters.postgres.event_store import CONNECT_TIMEOUT
from adapters.postgres.health import check_event_store
from adapters.postgres.read_models import create_read_models, open_pool
from adapters.postgres.read_side_state import ReadSideState, read_side_state_for
from adapters.postgres.report_queries import PostgresReportQueries
from adapters.read_side.catch_up import DEFAULT_BATCH_SIZE, catch_up
from adapters.read_side.collection_follower import CollectionFollower
from adapters.read_side.runtime import ReadSideParts
from adapters.read_side.status import StatusSource, get_read_side_status
from adapters.secret_keys import configured_secret_keys
from adapters.settings import Settings
from application.clicks import ClickTokens
from application.collection_model import CollectionModel
from application.collector import Collector, FireSink, Identify
from application.fires import Fire
from application.ingestion import IngestionApp
from application.management import ManagementApp
from application.member_tokens import MIN_KEY_BYTES, MemberTokens
from application.read_service import ReadService
from projections.attribution.projection import AttributionProjection
from projections.attribution.records import AttributionQueries
from projections.audit import AuditProjection, AuditView
from projections.base import Projection
from projections.memory_views import (
    InMemoryAttributionView,
    InMemoryAuditView,
    InMemoryReportQueries,
)
from projections.reporting import ReportQueries

FACT_RECORDER_TOPIC = "adapters.postgres.fact_recorder:PostgresFactRecorder"
MANAGEMENT_RECORDER_TOPIC = "adapters.postgres.management_recorder:PostgresManagementRecorder"
EVENT_STORE_FACTORY_TOPIC = "adapters.postgres.event_store:BoundedPostgresFactory"
HEALTH_TIMEOUT = 2.0  # seconds: /health answers within this, whatever the database does


@dataclass
class Container:
    """The write side and what the read side runs on, built once per process."""

    settings: Settings
    admin_token: str
    management: ManagementApp
    ingestion: IngestionApp
    state: ReadSideState  # relay positions and worker heartbeats
    topology: Topology  # this deployment's identity, stream, subjects and consumers (ADR 0023)
    # Sign member and click tokens, the first signing and all verifying (ADR 0030).
    secret_keys: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def sources(self) -> dict[str, Application[Any]]:
        """The applications whose notification logs feed the read side, by source name,
        management first (catalogue events before the facts that use them)."""
        # Source names are the ones projections track (projections.base.SOURCES), not the
        # applications' class-derived names, which differ for the management app.
        return {"management": self.management, "ingestion": self.ingestion}

    @property
    def read_side(self) -> ReadSideParts:
        """What the relay and workers run on."""
        settings = self.settings
        return ReadSideParts(self.sources, self.state, self.topology, settings.database_url,
                             settings.database_schema, record_fires=self.ingestion.record_fires)

    def close(self) -> None:
        """Release database connections."""
        self.ingestion.close()
        self.management.close()


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


def eventsourcing_env(database_url: str, schema: str, pool_size: int, wait: int = 3
                      ) -> dict[str, str]:
    """The eventsourcing library's PostgreSQL settings for a libpq URL, with bounded waits:
    `wait` seconds for a pooled connection and for a new one (ADR 0024)."""
    info = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": EVENT_STORE_FACTORY_TOPIC,
        "POSTGRES_DBNAME": str(info.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(info.get("port") or "5432"),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(info.get("password") or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size * 2),
        "POSTGRES_CONNECT_TIMEOUT": str(wait),  # the library's name for the pool's wait
        CONNECT_TIMEOUT: str(wait),
        "CREATE_TABLE": "y",
    }


def ensure_schema(database_url: str, schema: str) -> None:
    """Create the schema the stores live in, if it is missing."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))


def build_container(settings: Settings, admin_token: str,
                    secret_keys: Sequence[bytes] | None = None) -> Container:
    """Applications on PostgreSQL when a database URL is set, else in memory (tests, demos).

    Token keys: `secret_keys` (`serve` passes adapters/secret_keys.ensure_secret_keys'), else
    the configured ones, else a random key that lives and dies with this process.
    """
    keys = tuple(secret_keys or configured_secret_keys(settings)
                 or (secrets.token_bytes(MIN_KEY_BYTES),))
    if settings.database_url:
        env = eventsourcing_env(settings.database_url, settings.database_schema,
                                settings.pool_size, settings.db_timeout)
        # Several processes starting at once (uvicorn workers, `convtrack worker` hosts) would
        # race in the library's CREATE OR REPLACE FUNCTION ("tuple concurrently updated"):
        # one at a time creates the schema's tables and functions.
        with psycopg.connect(settings.database_url, autocommit=True) as lock:
            lock.execute("SELECT pg_advisory_lock(hashtext(%s))",
                         (f"convtrack-bootstrap:{settings.database_schema}",))
            ensure_schema(settings.database_url, settings.database_schema)
            management = ManagementApp(
                env=env | {"APPLICATION_RECORDER_TOPIC": MANAGEMENT_RECORDER_TOPIC})
            ingestion = IngestionApp(
                management, env=env | {"APPLICATION_RECORDER_TOPIC": FACT_RECORDER_TOPIC})
            state = read_side_state_for(management.recorder)
            # Made once under this lock, read by every later start: names on NATS follow the
            # database, never the schema's spelling (ADR 0023).
            deployment = deployment_id(lock, settings.database_schema)
    else:
        management = ManagementApp()
        ingestion = IngestionApp(management)
        state = read_side_state_for(management.recorder)
        deployment = new_deployment_id()  # the store lives and dies with this process
    ingestion.dead_letter_days = settings.dead_letter_days
    return Container(settings=settings, admin_token=admin_token, management=management,
                     ingestion=ingestion, state=state,
                     topology=Topology.for_deployment(deployment), secret_keys=keys)


def build_read_models(container: Container) -> ReadModels:
    """Read models in the container's database and schema, or in memory without a database."""
    settings = container.settings
    if not settings.database_url:
        attribution = InMemoryAttributionView()
        audit = InMemoryAuditView()
        return ReadModels(AttributionProjection(attribution), AuditProjection(audit),
                          attribution, InMemoryReportQueries(attribution), audit)
    pool = open_pool(settings.database_url, settings.pool_size, settings.db_timeout)
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


def read_service(container: Container, read_models: ReadModels) -> ReadService:
    """The read use cases over these read models."""
    return ReadService(container.management, container.ingestion.ledger,
                       read_models.conversions, read_models.reports, read_models.audit_trail)


def read_side_status(container: Container, read_models: ReadModels
                     ) -> StatusSource:
    """Reads where the read side stands now (GET /v1/projections, /metrics)."""
    return lambda: get_read_side_status(container.sources, container.state,
                                        read_models.projections)


def health_probe(container: Container, nats_status: Callable[[], str] | None = None
                 ) -> HealthProbe:
    """`GET /health`'s checks: the event store on its own bounded connection, and NATS as
    the read-side runtime in this process sees it (omitted when none runs here)."""
    settings, ingestion = container.settings, container.ingestion

    async def probe() -> dict[str, Any]:
        checks: dict[str, Any] = {}
        if settings.database_url and isinstance(ingestion.recorder, PostgresApplicationRecorder):
            state, position = await check_event_store(
                settings.database_url, settings.database_schema,
                ingestion.recorder.events_table_name, timeout=HEALTH_TIMEOUT)
            checks["event_store"] = state
            if position is not None:
                checks["ingestion_position"] = position
        else:
            checks |= {"event_store": "ok",
                       "ingestion_position": ingestion.recorder.max_notification_id() or 0}
        if nats_status is not None:
            checks["nats"] = nats_status()
        return checks

    return probe


@dataclass
class Collection:
    """This process's collector (ADR 0031-0033): its catalogue in memory, kept current from the
    management log, and where accepted fires go; started and stopped with the HTTP app."""

    collector: Collector
    gate: CollectGate
    follower: CollectionFollower
    publisher: FirePublisher | None

    async def start(self) -> None:
        """Load the catalogue, then follow it; connect to NATS in the background."""
        if self.publisher is not None:
            await self.publisher.start()
        await self.follower.start()

    async def stop(self) -> None:
        """Stop following and close the NATS connection."""
        await self.follower.stop()
        if self.publisher is not None:
            await self.publisher.stop()


class _NoSink:
    """Where fires go without a configured NATS (in-memory tests, demos): nowhere, counted."""

    async def publish(self, fire: Fire) -> bool:
        return False


def build_collection(container: Container, identify: Identify, sink: FireSink | None = None
                     ) -> Collection:
    """The collector over the container's management log; fires go to `sink`, else to the
    deployment's fires stream on the configured NATS."""
    settings = container.settings
    model = CollectionModel()
    follower = CollectionFollower(container.management, model, settings.database_url)
    publisher = None
    if sink is None and settings.nats_url:
        publisher = FirePublisher(settings.nats_url, container.topology,
                                  settings.collect_publish_timeout)
    collector = Collector(model, sink or publisher or _NoSink(), identify, member_admission(),
                          follower.catch_up)
    rate = settings.collect_ip_rate
    gate = CollectGate(collector, TokenBuckets(rate) if rate > 0 else None,
                       settings.collect_proxy_hops)
    return Collection(collector, gate, follower, publisher)


def build_app(container: Container, read_models: ReadModels | None = None,
              nats_status: Callable[[], str] | None = None,
              collection: Collection | None = None) -> Litestar:
    """The HTTP app over the container and read models (built here, and closed with the app,
    when not given); `nats_status` is the read-side runtime's, when one runs in the process;
    `collection` the collector (built here over the container's NATS when not given)."""
    owned = read_models is None
    models = read_models if read_models is not None else build_read_models(container)
    keys = container.secret_keys or (secrets.token_bytes(MIN_KEY_BYTES),)
    member_tokens = MemberTokens(keys)
    collection = collection or build_collection(container, member_tokens.verify)
    return create_app(HttpServices(
        admin_token=container.admin_token, public_url=container.settings.base_url,
        management=container.management, ingestion=container.ingestion,
        reads=read_service(container, models),
        read_side_status=read_side_status(container, models),
        health=health_probe(container, nats_status),
        on_startup=[collection.start],
        on_shutdown=[collection.stop, *([models.close] if owned else [])],
        unavailable_errors=(psycopg.OperationalError, psycopg.InterfaceError),
        admission=AdmissionLimits(container.settings.max_write_batches,
                                  container.settings.api_rate),
        member_tokens=member_tokens, click_tokens=ClickTokens(keys),
        collector=collection.collector, collect_gate=collection.gate))


def catch_up_from_store(read_models: ReadModels, container: Container,
                        batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Bring every projection up to the store's current positions; the events applied."""
    sources = container.sources
    return sum(catch_up(p, sources, batch_size) for p in read_models.projections)
