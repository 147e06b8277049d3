"""Admission control: overload answered at once with Retry-After, never queued (ADR 0026)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.bootstrap import build_app, build_container
from adapters.http.admission import AdmissionLimits, admission_control
from adapters.settings import Settings


def held_app(release: asyncio.Event, entered: asyncio.Event) -> Any:
    """An ASGI app whose batches wait until released, as a slow write would."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["method"] == "POST" and scope["path"] in ("/v1/touches", "/v1/conversions"):
            entered.set()
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})

    return app


async def test_a_write_batch_beyond_the_limit_is_refused_at_once_while_reads_go_on() -> None:
    release, entered = asyncio.Event(), asyncio.Event()
    app = admission_control(AdmissionLimits(max_write_batches=1))(held_app(release, entered))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = asyncio.create_task(client.post("/v1/touches", content=b"{}"))
        await asyncio.wait_for(entered.wait(), 5)
        refused = await asyncio.wait_for(client.post("/v1/conversions", content=b"{}"), 1)
        assert refused.status_code == 503
        assert refused.json()["error"] == "overloaded"
        assert int(refused.headers["retry-after"]) >= 1
        # Reads, /health and /metrics never wait for the write path.
        for path in ("/v1/conversions", "/health", "/metrics"):
            assert (await asyncio.wait_for(client.get(path), 1)).status_code == 200
        release.set()
        assert (await first).status_code == 200
        assert (await client.post("/v1/touches", content=b"{}")).status_code == 200


async def test_a_credential_past_its_rate_gets_429_and_others_do_not() -> None:
    release, entered = asyncio.Event(), asyncio.Event()
    release.set()
    app = admission_control(AdmissionLimits(rate_per_key=2))(held_app(release, entered))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        busy = {"Authorization": "Bearer busy"}
        answers = [(await client.get("/v1/tags", headers=busy)).status_code for _ in range(3)]
        assert answers == [200, 200, 429]
        limited = await client.get("/v1/tags", headers=busy)
        assert limited.json()["error"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert (await client.get("/v1/tags", headers={"Authorization": "Bearer calm"})
                ).status_code == 200
        assert (await client.get("/health", headers=busy)).status_code == 200


@pytest.fixture
def limited_client(database_url: str, pg_schema: str) -> Iterator[TestClient[Litestar]]:
    settings = Settings(database_url=database_url, database_schema=pg_schema, pool_size=2,
                        api_rate=1)
    container = build_container(settings, "admin_admission")
    try:
        with TestClient(build_app(container)) as client:
            yield client
    finally:
        container.close()


def test_the_service_applies_the_configured_rate_per_credential(
    limited_client: TestClient[Litestar]
) -> None:
    admin = {"Authorization": "Bearer admin_admission"}
    first = limited_client.post("/v1/accounts", json={"name": "A"}, headers=admin)
    second = limited_client.post("/v1/accounts", json={"name": "B"}, headers=admin)
    assert first.status_code == 201
    assert second.status_code == 429 and second.json()["field"] is None
