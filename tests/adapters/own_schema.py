"""The real app on PostgreSQL in a schema of its own, shared by the many cases of one module.

Per-test schemas (conftest.py's `client`) cost a few hundred milliseconds each; the table-driven
modules (bad input, ACL matrix, OpenAPI fuzzing) run hundreds of cases, each with its own ids,
against one app instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from litestar import Litestar
from litestar.testing import TestClient
from psycopg import sql

from adapters.bootstrap import Container, build_app, build_container
from adapters.settings import Settings


@contextmanager
def app_in_own_schema(
    database_url: str, admin_token: str
) -> Iterator[tuple[TestClient[Litestar], Container]]:
    """A test client over the app and its container, in a fresh schema dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    settings = Settings(database_url=database_url, database_schema=schema, pool_size=2)
    container = build_container(settings, admin_token)
    try:
        with TestClient(build_app(container)) as client:
            yield client, container
    finally:
        container.close()
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))
