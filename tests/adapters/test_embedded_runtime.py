"""The embedded PostgreSQL and nats-server that `convtrack serve` and the fixtures fall back on.

These tests always start the servers from the PyPI packages, even when CONVTRACK_TEST_* URLs
point at other servers, because a fresh machine with only `pip install` depends on them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import nats
import psycopg
import pytest
from psycopg import sql

from adapters.runtime.embedded_nats import EmbeddedNats
from adapters.runtime.embedded_postgres import EmbeddedPostgres
from adapters.runtime.supervisor import ServerDidNotStart


def _is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # The postmaster is daemonised, so in a container without a reaping init it can linger as a
    # zombie: it has exited all the same (field 3 of /proc/<pid>/stat is the state).
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state == "Z"


def _wait_until_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not _is_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


async def test_the_embedded_postgres_and_nats_answer_and_leave_no_process_behind(tmp_path: Path) -> None:
    postgres = EmbeddedPostgres(tmp_path, keep=False)
    broker = EmbeddedNats(tmp_path)
    try:
        # Starting blocks on child processes; a worker thread keeps the event loop free.
        database_url = await asyncio.to_thread(postgres.start)
        nats_url = await asyncio.to_thread(broker.start)
        postgres_pid, nats_pid = postgres.pid, broker.pid

        with psycopg.connect(database_url, autocommit=True) as connection:
            assert connection.info.dbname == "convtrack"
            connection.execute("CREATE TABLE probe (id int PRIMARY KEY, note text NOT NULL)")
            connection.execute("INSERT INTO probe VALUES (1, 'answers')")
            assert connection.execute("SELECT note FROM probe WHERE id = 1").fetchone() == ("answers",)

        client = await nats.connect(nats_url)
        try:
            jetstream = client.jetstream()
            await jetstream.add_stream(name="RUNTIME_PROBE", subjects=["convtrack.runtime.probe"])
            await jetstream.publish("convtrack.runtime.probe", b"answers")
            subscription = await jetstream.pull_subscribe("convtrack.runtime.probe", durable="probe")
            [message] = await subscription.fetch(1, timeout=5)
            await message.ack()
            assert message.data == b"answers"
        finally:
            await client.close()
    finally:
        await asyncio.to_thread(broker.stop)
        await asyncio.to_thread(postgres.stop)

    assert _wait_until_gone(postgres_pid), f"postmaster {postgres_pid} still runs"
    assert _wait_until_gone(nats_pid), f"nats-server {nats_pid} still runs"
    assert not (tmp_path / "postgres").exists()


def test_a_restarted_embedded_postgres_keeps_its_data(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path) as first, psycopg.connect(first.url, autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (note text)")
        connection.execute("INSERT INTO kept VALUES ('still here')")
        first_pid = first.pid
    assert _wait_until_gone(first_pid)

    with EmbeddedPostgres(tmp_path) as second, psycopg.connect(second.url) as connection:
        assert second.pid != first_pid
        assert connection.execute("SELECT note FROM kept").fetchall() == [("still here",)]
    assert (tmp_path / "postgres" / "PG_VERSION").exists()


def test_a_throwaway_embedded_postgres_deletes_its_data_on_stop(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path, keep=False):
        assert (tmp_path / "postgres" / "PG_VERSION").exists()
    assert not (tmp_path / "postgres").exists()


def test_an_embedded_nats_on_a_taken_port_fails_with_its_log(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken_port = squatter.getsockname()[1]

        with pytest.raises(ServerDidNotStart, match="address already in use"):
            EmbeddedNats(tmp_path, port=taken_port, startup_timeout=10).start()


def test_each_test_gets_its_own_empty_schema(pg_schema: str, database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (pg_schema,)
        ).fetchone()
        connection.execute(sql.SQL("CREATE TABLE {}.mine (id int)").format(sql.Identifier(pg_schema)))
    assert pg_schema.startswith("t_")
    assert tables == (0,)
