"""Session fixtures: a real PostgreSQL and a real NATS server for adapter and end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import nats
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from nats.js import JetStreamContext
from psycopg import sql

from adapters.bootstrap import (
    Container,
    ReadModels,
    build_app,
    build_container,
    build_read_models,
    catch_up_from_store,
)
from adapters.nats.subjects import Topology
from adapters.runtime.embedded_nats import EmbeddedNats
from adapters.runtime.embedded_postgres import EmbeddedPostgres
from adapters.runtime.supervisor import exit_on_termination_signals
from adapters.settings import Settings


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """CONVTRACK_TEST_DATABASE_URL, or a throwaway embedded PostgreSQL for the session
    (docs/architecture.md: Tests)."""
    configured = os.environ.get("CONVTRACK_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    # A CI runner stopping pytest with SIGTERM must still stop the servers started here.
    exit_on_termination_signals()
    with EmbeddedPostgres(tmp_path_factory.mktemp("postgres"), keep=False) as postgres:
        yield postgres.url


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """CONVTRACK_TEST_NATS_URL, or an embedded nats-server with JetStream for the session."""
    configured = os.environ.get("CONVTRACK_TEST_NATS_URL")
    if configured:
        yield configured
        return
    exit_on_termination_signals()
    with EmbeddedNats(tmp_path_factory.mktemp("nats")) as nats:
        yield nats.url


@pytest.fixture
def pg_schema(database_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, uniquely named schema for one test, dropped with everything in it afterwards,
    and so are the JetStream streams of the deployment it held."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(database_url, autocommit=True) as connection:
            deployment = deployment_in(connection, name)
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        # Streams reserve their byte limit on the server (4 GiB each, adapters/nats/stream.py):
        # a run that left them behind once filled the shared NATS's JetStream storage.
        nats_url = (os.environ.get("CONVTRACK_TEST_NATS_URL")
                    or (request.getfixturevalue("nats_url")
                        if "nats_url" in request.fixturenames else None))
        if deployment is not None and nats_url:
            asyncio.run(delete_streams(nats_url, Topology.for_deployment(deployment)))


def deployment_in(connection: psycopg.Connection[object], schema: str) -> str | None:
    """The deployment id a schema holds (adapters/postgres/deployment.py), if it got one."""
    table = connection.execute("SELECT to_regclass(%s)",
                               (f'"{schema}".deployment',)).fetchone()
    if table is None or table[0] is None:
        return None
    row = connection.execute(sql.SQL("SELECT id FROM {}.deployment")
                             .format(sql.Identifier(schema))).fetchone()
    return str(row[0]) if row else None


async def delete_streams(nats_url: str, topology: Topology) -> None:
    """This deployment's event and fire streams, wherever the test left them."""
    connection = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        for stream in (topology.stream, f"{topology.stream}-FIRES"):
            with contextlib.suppress(Exception):
                await connection.jetstream().delete_stream(stream)
    finally:
        await connection.close()



ADMIN_TOKEN = "admin_test_token"


@pytest.fixture
def pg_container(database_url: str, pg_schema: str) -> Iterator[Container]:
    """The service's parts on PostgreSQL, in this test's own schema."""
    settings = Settings(database_url=database_url, database_schema=pg_schema, pool_size=2)
    container = build_container(settings, ADMIN_TOKEN)
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
def read_models(pg_container: Container) -> Iterator[ReadModels]:
    """The read models (projections and queries) in this test's schema."""
    models = build_read_models(pg_container)
    try:
        yield models
    finally:
        models.close()


@pytest.fixture
def catch_up(pg_container: Container, read_models: ReadModels) -> Callable[[], int]:
    """Drive every projection from the event store, synchronously; returns the events applied."""
    return lambda: catch_up_from_store(read_models, pg_container)


@pytest.fixture
def client(pg_container: Container, read_models: ReadModels) -> Iterator[TestClient[Litestar]]:
    """litestar's test client over the real app on PostgreSQL."""
    with TestClient(build_app(pg_container, read_models)) as test_client:
        yield test_client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    """Authorization for the operator / ad platform."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def read_side_topology(pg_container: Container) -> Topology:
    """This test's own JetStream stream and subjects: its container's deployment, made in its
    own schema (ADR 0023); a test may still pass any other Topology explicitly."""
    return pg_container.topology


@pytest.fixture
async def jetstream(nats_url: str, read_side_topology: Topology) -> AsyncIterator[JetStreamContext]:
    """A JetStream context on the test NATS; this test's stream is deleted afterwards."""
    connection = await nats.connect(nats_url)
    try:
        yield connection.jetstream()
    finally:
        with contextlib.suppress(Exception):
            await connection.jetstream().delete_stream(read_side_topology.stream)
        await connection.close()
