"""The deployment's identity: a random id kept in a one-row table beside the event store.

Everything this deployment puts on NATS carries it (adapters/nats/subjects.py, ADR 0023). It is
made once, by the first process to bootstrap the schema, and read by every later one, so the
relay, every worker and every host agree; a fresh or restored-empty database gets a new one,
and so its own stream, whatever other deployments share the NATS server or the schema's name.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

_log = logging.getLogger("convtrack.deployment")

ID_BYTES = 6  # 12 hex digits: short names, and a collision on one server beyond any real count


def new_deployment_id() -> str:
    """A fresh random id: lower-case hex, valid in a subject token and a stream name."""
    return secrets.token_hex(ID_BYTES)


def deployment_id(conn: psycopg.Connection[Any], schema: str) -> str:
    """This schema's deployment id, created on the first call and read on every later one.

    Callers hold the bootstrap lock (adapters/bootstrap.py); the insert would not overwrite
    a concurrent one anyway, and both would then read the same row.
    """
    table = SQL("{}.deployment").format(Identifier(schema))
    # `one_row` is the key and can only be true: the table cannot hold a second identity.
    conn.execute(SQL("CREATE TABLE IF NOT EXISTS {} (one_row boolean PRIMARY KEY DEFAULT true "
                     "CHECK (one_row), id text NOT NULL, created_at timestamptz NOT NULL "
                     "DEFAULT now())").format(table))
    created = conn.execute(SQL("INSERT INTO {} (id) VALUES (%s) ON CONFLICT DO NOTHING "
                               "RETURNING id").format(table), (new_deployment_id(),)).fetchone()
    if created is not None:
        _log.info("created deployment id %s in schema %s", created[0], schema,
                  extra={"deployment": created[0], "schema": schema})
        return str(created[0])
    row = conn.execute(SQL("SELECT id FROM {}").format(table)).fetchone()
    assert row is not None  # the insert conflicted with it
    return str(row[0])
