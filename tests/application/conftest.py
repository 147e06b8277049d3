"""Application tests are written once and run on the in-memory store and on PostgreSQL.

docs/architecture.md (Tests): `tests/application/` uses the in-memory store, with the same scenarios
parametrised over PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from adapters.bootstrap import Container, build_container
from adapters.settings import Settings
from application.access import Caller

ADMIN_TOKEN = "admin_application_tests"


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> str:
    """Which event store the applications run on."""
    return str(request.param)


@pytest.fixture
def make_container(store: str, request: pytest.FixtureRequest) -> Iterator[Callable[[], Container]]:
    """Builds containers on the test's store; on PostgreSQL, several share the test's schema."""
    built: list[Container] = []
    settings = Settings()
    if store == "postgres":
        # Only PostgreSQL runs need the server: asked for here, not in the signature.
        database_url = request.getfixturevalue("database_url")
        schema = request.getfixturevalue("pg_schema")
        settings = Settings(database_url=database_url, database_schema=schema, pool_size=4)

    def make() -> Container:
        container = build_container(settings, ADMIN_TOKEN)
        built.append(container)
        return container

    yield make
    for container in built:
        container.close()


@pytest.fixture
def container(make_container: Callable[[], Container]) -> Container:
    """The management and ingestion applications on the test's store."""
    return make_container()


@pytest.fixture
def admin() -> Caller:
    return Caller.admin()

