"""Overload and slow clients against the real server (issue 9, points 4 and 8; ADRs 0026, 0029).

The service runs as `convtrack serve` runs it: uvicorn with `ReadDeadlineProtocol`, on the test
PostgreSQL, in a thread of this process. Clients are raw sockets and httpx, so a request can be
left half-sent. No figure here is a performance target (bench/admission.py measures those):
the bounds are what "at once" and "closed" must mean to a client.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
import uvicorn
from psycopg.sql import SQL, Identifier

from adapters.bootstrap import build_app, build_container
from adapters.runtime.http_server import KEEP_ALIVE_TIMEOUT, ReadDeadlineProtocol
from adapters.settings import Settings
from tests.conftest import ADMIN_TOKEN

READ_TIMEOUT = 1.0
SLACK = 3.0  # seconds beyond a deadline before a still-open connection fails the test
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class DeadlineProtocol(ReadDeadlineProtocol):
    read_timeout = READ_TIMEOUT


@dataclass
class Running:
    base: str
    port: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(database_url: str, pg_schema: str) -> Iterator[Running]:
    container = build_container(Settings(database_url=database_url, database_schema=pg_schema,
                                         max_write_batches=1), ADMIN_TOKEN)
    port = free_port()
    config = uvicorn.Config(build_app(container), host="127.0.0.1", port=port, log_config=None,
                            access_log=False, timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
                            http=DeadlineProtocol)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield Running(f"http://127.0.0.1:{port}", port)
    finally:
        running.should_exit = True
        thread.join(15)
        container.close()


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Seconds until the server closed `sock` (sending `trickle` a byte at a time meanwhile)."""
    began = time.monotonic()
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() - began < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - began
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - began
        if sent < len(trickle):
            try:
                sock.sendall(trickle[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - began
            sent += 1
    return None


def test_a_connection_that_never_sends_a_request_is_closed_after_the_read_deadline(
        server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        took = closed_within(sock, READ_TIMEOUT + SLACK)
    assert took is not None, "an idle new connection was kept open"
    assert took >= READ_TIMEOUT * 0.9


def test_headers_trickled_a_byte_at_a_time_do_not_extend_the_deadline(server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        # 0.2 s a byte: this header would take far longer than the deadline to finish.
        took = closed_within(sock, READ_TIMEOUT + SLACK, trickle=b"X-Slow: " + b"a" * 200)
    assert took is not None, "a connection trickling its headers was kept open"


def test_a_body_that_stops_half_way_is_closed_and_nothing_is_recorded(
        server: Running, database_url: str, pg_schema: str) -> None:
    head = (b"POST /v1/touches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\nContent-Length: 5000\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head + b'{"touches": [')
        took = closed_within(sock, READ_TIMEOUT + SLACK)
    assert took is not None, "a connection holding a half-sent body was kept open"
    assert stored_touches(database_url, pg_schema) == 0


def test_a_keep_alive_connection_serves_request_after_request_past_the_read_deadline(
        server: Running) -> None:
    # The deadline covers receiving a request, not the life of the connection.
    with httpx.Client(base_url=server.base) as http:
        for _ in range(3):
            assert http.get("/health").status_code == 200
            time.sleep(READ_TIMEOUT * 0.8)
        assert http.get("/health").status_code == 200


def test_write_batches_past_the_bound_are_refused_at_once_while_health_answers_and_every_accepted_item_is_kept(  # noqa: E501
        server: Running, database_url: str, pg_schema: str) -> None:
    campaign = httpx.post(f"{server.base}/v1/campaigns", headers=advertiser(server),
                          json={"name": "c", "type": "text_ad"}).json()["campaign_id"]
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    batches = [{"touches": [{"event_id": f"b{b}-{i}", "member_id": f"m{i % 40}",
                             "kind": "impression", "campaign_id": campaign, "occurred_at": when}
                            for i in range(400)]} for b in range(12)]
    refusals: list[tuple[float, str]] = []
    health: list[tuple[int, float]] = []
    stop = threading.Event()

    def poll_health() -> None:
        with httpx.Client(base_url=server.base, timeout=10) as http:
            while not stop.is_set():
                began = time.monotonic()
                health.append((http.get("/health").status_code, time.monotonic() - began))
                time.sleep(0.05)

    def send(batch: dict[str, object]) -> int:
        with httpx.Client(base_url=server.base, headers=ADMIN, timeout=60) as http:
            while True:
                began = time.monotonic()
                answer = http.post("/v1/touches", json=batch)
                if answer.status_code != 503:
                    assert answer.status_code == 200, answer.text
                    return sum(r["status"] == "accepted" for r in answer.json()["results"])
                assert answer.json()["error"] == "overloaded"
                refusals.append((time.monotonic() - began, answer.headers["Retry-After"]))
                time.sleep(0.2)  # sooner than Retry-After: more refusals to check

    prober = threading.Thread(target=poll_health)
    prober.start()
    try:
        with ThreadPoolExecutor(len(batches)) as pool:
            accepted = sum(pool.map(send, batches))
    finally:
        stop.set()
        prober.join(15)
    assert refusals, "twelve batches at once against a bound of one were never refused"
    assert all(int(after) >= 1 for _, after in refusals)
    assert max(took for took, _ in refusals) < 2.0, "a refusal waited behind the write path"
    assert health and all(status == 200 for status, _ in health)
    assert max(took for _, took in health) < 5.0
    assert accepted == 12 * 400
    assert stored_touches(database_url, pg_schema) == accepted


def advertiser(server: Running) -> dict[str, str]:
    key = httpx.post(f"{server.base}/v1/accounts", headers=ADMIN, json={"name": "a"}).json()
    return {"Authorization": f"Bearer {key['api_key']}"}


def stored_touches(database_url: str, schema: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(SQL("SELECT count(*) FROM {}.fact_keys WHERE scope = 'touch'")
                           .format(Identifier(schema))).fetchone()
    return int(row[0]) if row else 0
