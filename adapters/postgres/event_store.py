"""The event store's PostgreSQL connections with bounded waits (issue 9: dependencies down).

The library's datastore waits up to POSTGRES_CONNECT_TIMEOUT for a pooled connection, opens new
ones with libpq's default connect timeout (130 s in psycopg 3.3) and retries every insert and
select 10 times on an OperationalError. A pool timeout therefore cost a request 10 waits.
Here a connection that cannot be had in time raises `DatabaseUnavailable`, which the library
does not retry (it is no OperationalError), so a request answers 503 within one wait; a
connection that broke in use is still retried (the next attempt takes another, or times out).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import OperationalError, PersistenceError
from eventsourcing.postgres import PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout

# Registers the dumpers of the recorders' pre-built arrays on psycopg's global map before the
# datastore opens its first connection (a connection copies the map when it opens).
from adapters.postgres import binary_arrays  # noqa: F401

_log = logging.getLogger("convtrack.postgres")

# Read from the application's environment beside the library's POSTGRES_* settings.
CONNECT_TIMEOUT = "CONVTRACK_LIBPQ_CONNECT_TIMEOUT"  # seconds for one new connection
RECONNECT_TIMEOUT = "CONVTRACK_RECONNECT_TIMEOUT"  # seconds before a failing refill gives up


class DatabaseUnavailable(PersistenceError, ConnectionError):
    """No connection to PostgreSQL within the configured wait: retry later.

    A ConnectionError too, so the read side's apply loop retries it as the infrastructure's
    failure instead of parking the event (adapters/read_side/apply.py: TRANSIENT).
    """


def libpq_options(connect_timeout: int) -> dict[str, Any]:
    """Connection parameters that bound how long a lost server can hold a caller."""
    return {
        "connect_timeout": max(1, connect_timeout),
        # A peer that vanished without a FIN (network partition) is noticed within seconds
        # instead of the kernel's two hours; ignored on Unix sockets (embedded PostgreSQL).
        "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2,
        "tcp_user_timeout": 10_000,
    }


class BoundedDatastore(PostgresDatastore):
    """The library's datastore, but a connection that cannot be had in time is unavailable."""

    @contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        conn: Connection[DictRow] | None = None
        try:
            with super().get_connection() as conn:
                yield conn
        except OperationalError as error:
            if isinstance(error.__cause__, PoolTimeout):
                raise DatabaseUnavailable(str(error)) from error
            if conn is not None and conn.broken:
                self._check_idle_connections()
            raise

    def _check_idle_connections(self) -> None:
        """Test the pool's idle connections in the background, once at a time.

        The server that broke this connection most likely broke the idle ones too; unchecked,
        the library's retry would take them one by one (0.2 s apart) before it waited for a
        new one, pushing a 503 past 5 s with a larger pool. Not in the request's thread: on a
        silent network the check itself may hang until `tcp_user_timeout`.
        """
        checking: threading.Lock = self.__dict__.setdefault("_checking", threading.Lock())
        if not checking.acquire(blocking=False):
            return

        def check() -> None:
            try:
                self.pool.check()
            except Exception as error:  # a pool closed meanwhile: nothing left to check
                _log.debug("pool check failed: %s", error)
            finally:
                checking.release()

        threading.Thread(target=check, name="convtrack-pool-check", daemon=True).start()


class BoundedPostgresFactory(PostgresFactory):
    """PERSISTENCE_MODULE for the event store: the library's factory with bounded waits."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        datastore = self.datastore
        # The library builds its datastore inline; the subclass adds behaviour, no state.
        datastore.__class__ = BoundedDatastore
        pool = datastore.pool
        assert isinstance(pool.kwargs, dict)
        pool.kwargs.update(libpq_options(int(self.env.get(CONNECT_TIMEOUT) or 3)))
        # The pool refills a lost connection with a backoff that doubles from 1 s until this
        # many seconds have passed; then it gives up and a waiting request grows it again at
        # once, so it reconnects soon after the database is back, however long it was away.
        pool.reconnect_timeout = float(self.env.get(RECONNECT_TIMEOUT) or 10)
