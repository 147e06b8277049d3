"""The composition root: builds the applications on the configured stores (STYLE.md)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from adapters.settings import Settings
from application.ingestion import IngestionApp
from application.management import ManagementApp

FACT_RECORDER_TOPIC = "adapters.postgres.fact_recorder:PostgresFactRecorder"


@dataclass
class Container:
    """The running service's parts, built once per process."""

    settings: Settings
    admin_token: str
    management: ManagementApp
    ingestion: IngestionApp

    def close(self) -> None:
        """Release database connections."""
        self.ingestion.close()
        self.management.close()


def eventsourcing_env(database_url: str, schema: str, pool_size: int) -> dict[str, str]:
    """The eventsourcing library's PostgreSQL settings for a libpq URL."""
    info = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(info.get("port") or "5432"),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(info.get("password") or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size * 2),
        "CREATE_TABLE": "y",
    }


def ensure_schema(database_url: str, schema: str) -> None:
    """Create the schema the stores live in, if it is missing."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))


def build_container(settings: Settings, admin_token: str) -> Container:
    """Applications on PostgreSQL when a database URL is set, else in memory (tests, demos)."""
    if settings.database_url:
        env = eventsourcing_env(settings.database_url, settings.database_schema,
                                settings.pool_size)
        # Several processes starting at once (uvicorn workers, `convtrack worker` hosts) would
        # race in the library's CREATE OR REPLACE FUNCTION ("tuple concurrently updated"):
        # one at a time creates the schema's tables and functions.
        with psycopg.connect(settings.database_url, autocommit=True) as lock:
            lock.execute("SELECT pg_advisory_lock(hashtext(%s))",
                         (f"convtrack-bootstrap:{settings.database_schema}",))
            ensure_schema(settings.database_url, settings.database_schema)
            management = ManagementApp(env=env)
            ingestion = IngestionApp(
                management, env=env | {"APPLICATION_RECORDER_TOPIC": FACT_RECORDER_TOPIC})
    else:
        management = ManagementApp()
        ingestion = IngestionApp(management)
    return Container(settings=settings, admin_token=admin_token, management=management,
                     ingestion=ingestion)
