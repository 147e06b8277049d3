"""What the read-side transport keeps in PostgreSQL: relay positions and worker heartbeats.

Both live in the event store's schema. Relay positions only move forward
(`GREATEST`), so two relays racing, or a slow one finishing late, never rewind the log: the
worst a stale relay can do is re-publish, which JetStream drops by `Nats-Msg-Id` (ADR: relay).
Worker heartbeats let `GET /v1/projections` show a worker running in another process or host.
"""

from __future__ import annotations

import os
import socket
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Identifier

# Three missed heartbeats (WorkerOptions.heartbeat_interval in adapters/read_side/worker.py).
STALE_AFTER = timedelta(seconds=15)


@dataclass(frozen=True)
class WorkerRecord:
    """The last thing a projection's worker said about itself."""

    projection: str
    status: str  # "live" | "catching_up" | "stopped"
    host: str
    pid: int
    heartbeat_at: datetime
    detail: str

    def current_status(self, now: datetime) -> str:
        """The reported status, or `stopped` if the worker went silent."""
        return "stopped" if now - self.heartbeat_at > STALE_AFTER else self.status


class ReadSideState(ABC):
    """Relay positions and worker heartbeats."""

    @abstractmethod
    def relay_positions(self) -> dict[str, int]:
        """The last position confirmed published, per source application."""

    @abstractmethod
    def save_relay_position(self, application: str, position: int) -> None:
        """Record a confirmed position; an older one than recorded is ignored."""

    @abstractmethod
    def report_worker(self, projection: str, status: str, detail: str = "") -> None:
        """A worker's heartbeat with its status."""

    @abstractmethod
    def list_workers(self) -> dict[str, WorkerRecord]:
        """Every projection's last heartbeat, by projection name."""


class MemoryReadSideState(ReadSideState):
    """For the in-memory store: one process holds everything."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._positions: dict[str, int] = {}
        self._workers: dict[str, WorkerRecord] = {}

    def relay_positions(self) -> dict[str, int]:
        with self._lock:
            return dict(self._positions)

    def save_relay_position(self, application: str, position: int) -> None:
        with self._lock:
            self._positions[application] = max(position, self._positions.get(application, 0))

    def report_worker(self, projection: str, status: str, detail: str = "") -> None:
        with self._lock:
            self._workers[projection] = WorkerRecord(projection, status, socket.gethostname(),
                                                     os.getpid(), datetime.now(UTC), detail)

    def list_workers(self) -> dict[str, WorkerRecord]:
        with self._lock:
            return dict(self._workers)


class PostgresReadSideState(ReadSideState):
    """Tables `relay_positions` and `projection_workers` in the event store's schema."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore
        schema = Identifier(datastore.schema)
        self._positions = SQL("{}.relay_positions").format(schema)
        self._workers = SQL("{}.projection_workers").format(schema)
        with datastore.get_connection() as conn:
            conn.execute(SQL("CREATE TABLE IF NOT EXISTS {} (application text PRIMARY KEY, "
                             "position bigint NOT NULL)").format(self._positions))
            conn.execute(SQL("CREATE TABLE IF NOT EXISTS {} (projection text PRIMARY KEY, "
                             "status text NOT NULL, host text NOT NULL, pid int NOT NULL, "
                             "heartbeat_at timestamptz NOT NULL, detail text NOT NULL)"
                             ).format(self._workers))

    def relay_positions(self) -> dict[str, int]:
        with self._datastore.get_connection() as conn:
            rows = conn.execute(SQL("SELECT application, position FROM {}"
                                    ).format(self._positions)).fetchall()
        return {row["application"]: int(row["position"]) for row in rows}

    def save_relay_position(self, application: str, position: int) -> None:
        with self._datastore.get_connection() as conn, conn.transaction():
            # A position lost in a crash only re-publishes what JetStream then drops by
            # Nats-Msg-Id: not worth a WAL flush per page (which the write side waits behind).
            conn.execute("SET LOCAL synchronous_commit = off")
            conn.execute(SQL("INSERT INTO {0} AS p (application, position) VALUES (%s, %s) "
                             "ON CONFLICT (application) DO UPDATE SET position = "
                             "GREATEST(p.position, EXCLUDED.position)").format(self._positions),
                         (application, position))

    def report_worker(self, projection: str, status: str, detail: str = "") -> None:
        with self._datastore.get_connection() as conn, conn.transaction():
            conn.execute("SET LOCAL synchronous_commit = off")  # the next heartbeat says it again
            conn.execute(SQL("INSERT INTO {} (projection, status, host, pid, heartbeat_at, "
                             "detail) VALUES (%s, %s, %s, %s, now(), %s) "
                             "ON CONFLICT (projection) DO UPDATE SET status = EXCLUDED.status, "
                             "host = EXCLUDED.host, pid = EXCLUDED.pid, "
                             "heartbeat_at = EXCLUDED.heartbeat_at, detail = EXCLUDED.detail"
                             ).format(self._workers),
                         (projection, status, socket.gethostname(), os.getpid(), detail))

    def list_workers(self) -> dict[str, WorkerRecord]:
        with self._datastore.get_connection() as conn:
            rows = conn.execute(SQL("SELECT projection, status, host, pid, heartbeat_at, detail "
                                    "FROM {}").format(self._workers)).fetchall()
        return {row["projection"]: WorkerRecord(row["projection"], row["status"], row["host"],
                                                row["pid"], row["heartbeat_at"], row["detail"])
                for row in rows}


def read_side_state_for(recorder: object) -> ReadSideState:
    """The state store beside an application recorder: in its PostgreSQL schema, or in memory."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return PostgresReadSideState(recorder.datastore)
    return MemoryReadSideState()
