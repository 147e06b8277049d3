"""PostgreSQL or NATS lost while the service runs: bounded answers, then recovery (issue 9).

The servers stay up; each test reaches them through its own TCP proxy (tests/e2e/tcp_proxy.py)
and cuts that, so nothing shared is stopped. Every answer during a cut must come within 5 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import nats
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.sql import SQL, Identifier

from adapters.bootstrap import Container, build_app, build_container, build_read_models
from adapters.nats.subjects import Topology
from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime
from adapters.settings import Settings
from domain.member_timeline import MemberTimeline
from tests.adapters.read_side_support import wait_until
from tests.conftest import ADMIN_TOKEN
from tests.e2e.tcp_proxy import TcpProxy

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BOUND = 5.0  # seconds: the longest any answer may take while a dependency is cut


@pytest.fixture
def pg_proxy(database_url: str) -> Iterator[TcpProxy]:
    info = conninfo_to_dict(database_url)
    with TcpProxy(str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)) as proxy:
        yield proxy


@pytest.fixture
def proxied(database_url: str, pg_schema: str, pg_proxy: TcpProxy
            ) -> Iterator[tuple[Container, TestClient[Litestar]]]:
    """The service with every PostgreSQL connection going through the proxy."""
    url = make_conninfo(database_url, host="127.0.0.1", port=str(pg_proxy.port))
    # The default pool size: every one of its connections breaks with the cut.
    container = build_container(Settings(database_url=url, database_schema=pg_schema,
                                         pool_size=5), ADMIN_TOKEN)
    try:
        with TestClient(build_app(container)) as client:
            yield container, client
    finally:
        pg_proxy.restore()  # closing the pools must not wait on a cut connection
        container.close()


def timed(call: Any) -> tuple[Any, float]:
    began = time.monotonic()
    result = call()
    return result, time.monotonic() - began


def test_health_is_503_naming_the_event_store_within_5_s_while_postgres_is_cut_then_200(
        proxied: tuple[Container, TestClient[Litestar]], pg_proxy: TcpProxy) -> None:
    _, client = proxied
    healthy = client.get("/health")
    assert healthy.status_code == 200
    assert healthy.json()["status"] == "ok" and healthy.json()["checks"]["event_store"] == "ok"
    pg_proxy.cut()
    cut_at = time.monotonic()
    # Answered from the last background check (renewed every second): every answer is quick,
    # and the outage shows within BOUND seconds of the cut.
    while True:
        answer, took = timed(lambda: client.get("/health"))
        assert took < BOUND
        if answer.status_code == 503 or time.monotonic() - cut_at > BOUND:
            break
        time.sleep(0.1)
    assert time.monotonic() - cut_at < BOUND
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"
    assert answer.json()["checks"]["event_store"].startswith("unreachable: ")
    pg_proxy.restore()
    wait_until(lambda: client.get("/health").status_code == 200, 10, "/health to be 200 again")


@pytest.mark.slow
def test_conversions_are_503_with_retry_after_while_postgres_is_cut_and_a_resend_records_once(
        proxied: tuple[Container, TestClient[Litestar]], pg_proxy: TcpProxy,
        database_url: str, pg_schema: str) -> None:
    _, client = proxied
    key, action = advertiser(client)
    now = datetime.now(UTC).isoformat()
    warm_up = client.post("/v1/conversions", headers=key, json={"conversions": [
        {"event_id": "warm-up", "action_id": action, "member_id": "m0", "occurred_at": now}]})
    assert warm_up.status_code == 200  # the pools hold connections through the proxy now
    batch = {"conversions": [{"event_id": f"c{i}", "action_id": action, "member_id": f"m{i}",
                              "occurred_at": now} for i in range(20)]}
    pg_proxy.cut()
    answer, took = timed(lambda: client.post("/v1/conversions", headers=key, json=batch))
    assert took < BOUND
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.json()["error"] == "unavailable"
    # Still bounded when every pooled connection is gone and new ones hang.
    again, took = timed(lambda: client.post("/v1/conversions", headers=key, json=batch))
    assert (again.status_code, took < BOUND) == (503, True)
    pg_proxy.restore()

    def resend() -> Any:
        response = client.post("/v1/conversions", headers=key, json=batch)
        assert response.status_code in (200, 503), response.text
        return response if response.status_code == 200 else None

    deadline = time.monotonic() + 20
    while (accepted := resend()) is None:
        assert time.monotonic() < deadline, "the service did not recover within 20 s"
        time.sleep(0.5)
    assert [r["status"] for r in accepted.json()["results"]] == ["accepted"] * 20
    duplicates = client.post("/v1/conversions", headers=key, json=batch).json()["results"]
    assert [r["status"] for r in duplicates] == ["duplicate"] * 20
    assert recorded_conversions(database_url, pg_schema) == 21  # the warm-up and the batch


def advertiser(client: TestClient[Litestar]) -> tuple[dict[str, str], str]:
    """An account key and a conversion action it may send."""
    account = client.post("/v1/accounts", json={"name": "Acme"}, headers=ADMIN).json()
    key = {"Authorization": f"Bearer {account['api_key']}"}
    tag = client.post("/v1/tags", json={"name": "shop"}, headers=key).json()
    campaign = client.post("/v1/campaigns", json={"name": "C", "type": "text_ad"},
                           headers=key).json()
    action = client.post("/v1/conversion-actions", headers=key, json={
        "tag_id": tag["tag_id"], "name": "Buy", "category": "purchase",
        "campaign_ids": [campaign["campaign_id"]]}).json()
    return key, str(action["action_id"])


def recorded_conversions(database_url: str, schema: str) -> int:
    """Conversion events in the store, read straight from PostgreSQL (not through the proxy)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(SQL("SELECT count(*) FROM {}.ingestion_events WHERE topic = %s"
                               ).format(Identifier(schema)),
                           (MemberTimeline.ConversionRecorded.TOPIC,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def nats_proxy(nats_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(nats_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 4222) as proxy:
        yield proxy


def test_health_names_nats_unreachable_within_5_s_while_the_read_side_loses_it_then_ok(
        database_url: str, pg_schema: str, nats_url: str, nats_proxy: TcpProxy) -> None:
    container = build_container(Settings(database_url=database_url, database_schema=pg_schema,
                                         pool_size=2), ADMIN_TOKEN)
    topology = container.topology  # this test's own stream (its schema's deployment)
    models = build_read_models(container)
    runtime = ReadSideRuntime(container.read_side, [], f"nats://127.0.0.1:{nats_proxy.port}",
                              ReadSideOptions(relay=True, workers=False,
                                              statistics_interval=None)).start()
    try:
        with TestClient(build_app(container, models, runtime.nats_status)) as client:
            wait_until(lambda: client.get("/health").status_code == 200, 10, "NATS connected")
            assert client.get("/health").json()["checks"]["nats"] == "ok"
            nats_proxy.cut()
            began = time.monotonic()
            wait_until(lambda: client.get("/health").status_code == 503, BOUND,
                       "/health to name NATS")
            assert time.monotonic() - began < BOUND
            checks = client.get("/health").json()["checks"]
            assert checks["nats"].startswith("unreachable: ")
            assert checks["event_store"] == "ok"
            nats_proxy.restore()
            wait_until(lambda: client.get("/health").status_code == 200, 10,
                       "/health to be 200 again")
    finally:
        runtime.stop()
        models.close()
        container.close()
        asyncio.run(drop_stream(nats_url, topology))


async def drop_stream(url: str, topology: Topology) -> None:
    connection = await nats.connect(url)
    with suppress(Exception):
        await connection.jetstream().delete_stream(topology.stream)
    await connection.close()
