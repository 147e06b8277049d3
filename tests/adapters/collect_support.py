"""Helpers of the collection tests: a service whose collector publishes to the test's own fires
stream on the real NATS, a site set up over HTTP, and reading the fires stream back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import nats
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from nats.js.errors import NotFoundError

from adapters.bootstrap import (
    Collection,
    Container,
    build_app,
    build_collection,
    build_container,
)
from adapters.nats.fires import fire_of
from adapters.nats.subjects import Topology
from adapters.read_side.fires_consumer import FiresOptions
from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime
from adapters.settings import Settings
from application.fires import Fire
from application.member_tokens import MemberTokens
from tests.adapters.read_side_support import wait_until
from tests.conftest import ADMIN_TOKEN

CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
THANKS = "https://www.shop.example/thanks?order=1"
ORIGIN = "https://www.shop.example"
# Quick to notice the stream and new fires: tests wait on them.
FAST_FIRES = ReadSideOptions(relay=False, workers=True, fires=True, statistics_interval=None,
                             fires_options=FiresOptions(fetch_timeout=0.1, stream_check=0.1))


@dataclass
class Site:
    """An advertiser whose tag on shop.example has actions, reached through one test client."""

    client: TestClient[Litestar]
    container: Container
    collection: Collection
    admin: dict[str, str]
    key: dict[str, str] = field(default_factory=dict)
    account_id: str = ""
    tag: str = ""

    def set_up(self, domain: str = "shop.example") -> Site:
        account = self.client.post("/v1/accounts", json={"name": "Shop"}, headers=self.admin)
        self.account_id = account.json()["account_id"]
        self.key = {"Authorization": f"Bearer {account.json()['api_key']}"}
        self.tag = self.client.post("/v1/tags", json={"name": "shop"},
                                    headers=self.key).json()["tag_id"]
        self.register(domain)
        return self

    def register(self, domain: str) -> None:
        response = self.client.post(f"/v1/tags/{self.tag}/domains", json={"domain": domain},
                                    headers=self.key)
        assert response.status_code == 201, response.text

    def action(self, *rules: tuple[str, str], tag: str | None = None, **settings: Any) -> str:
        body = {"tag_id": tag or self.tag, "name": "Buy", "category": "purchase",
                "rules": [{"match": m, "url": u} for m, u in rules]} | settings
        response = self.client.post("/v1/conversion-actions", json=body, headers=self.key)
        assert response.status_code == 201, response.text
        return str(response.json()["action_id"])

    def cookie(self, member_id: str = "member-1") -> str:
        """A valid `ct_mid` value naming the member."""
        return MemberTokens(self.container.secret_keys).issue(member_id, datetime.now(UTC)).token

    def pixel(self, cookie: str | None = None, user_agent: str = CHROME,
              origin: str = ORIGIN, **params: str) -> Any:
        """GET /collect with these query parameters (tid defaults to the site's tag)."""
        query = urlencode({"tid": self.tag} | params)
        return self.client.get(f"/collect?{query}", headers=headers(cookie, user_agent, origin))

    def beacon(self, body: bytes, cookie: str | None = None, user_agent: str = CHROME,
               origin: str = ORIGIN) -> Any:
        """POST /collect with this body, as sendBeacon sends it (text/plain)."""
        return self.client.post("/collect", content=body, headers=headers(
            cookie, user_agent, origin) | {"Content-Type": "text/plain;charset=UTF-8"})

    def sync_model(self) -> None:
        """Wait until the collector's catalogue has every management event recorded so far."""
        recorder = self.container.management.recorder
        wait_until(lambda: self.collection.collector.model.position
                   >= (recorder.max_notification_id() or 0), 5, "the catalogue to catch up")


def headers(cookie: str | None, user_agent: str, origin: str) -> dict[str, str]:
    sent = {"User-Agent": user_agent, "Origin": origin}
    if cookie is not None:
        sent["Cookie"] = f"ct_mid={cookie}"
    return sent


def answer(response: Any) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    """Everything a page can see of an answer: status, every header in order, body."""
    return response.status_code, tuple(response.headers.multi_items()), response.content


@pytest.fixture
def collect_container(database_url: str, pg_schema: str, nats_url: str) -> Iterator[Container]:
    """The service's parts in the test's schema, with the test NATS for its fires stream."""
    settings = Settings(database_url=database_url, database_schema=pg_schema, pool_size=2,
                        nats_url=nats_url, collect_ip_rate=0)
    container = build_container(settings, ADMIN_TOKEN)
    try:
        yield container
    finally:
        container.close()
        drop_fires_stream(nats_url, container.topology)


@pytest.fixture
def site(collect_container: Container, admin_headers: dict[str, str]) -> Iterator[Site]:
    with collecting(collect_container) as (client, collection):
        yield Site(client, collect_container, collection, admin_headers).set_up()


@contextlib.contextmanager
def collecting(container: Container) -> Iterator[tuple[TestClient[Litestar], Collection]]:
    """The service over the container, its collector built here so a test can look inside."""
    collection = build_collection(container, MemberTokens(container.secret_keys).verify)
    with TestClient(build_app(container, collection=collection)) as client:
        wait_until(lambda: collection.publisher is None or collection.publisher.connected, 10,
                   "the collector to reach NATS")
        yield client, collection


@contextlib.contextmanager
def fires_consumer(container: Container, nats_url: str) -> Iterator[ReadSideRuntime]:
    """The read-side runtime running only the fires consumer."""
    runtime = ReadSideRuntime(container.read_side, [], nats_url, FAST_FIRES).start()
    try:
        yield runtime
    finally:
        runtime.stop()


def stream_fires(nats_url: str, topology: Topology) -> list[Fire]:
    """The fires the deployment's fires stream holds, oldest first (read, not consumed)."""
    async def read() -> list[Fire]:
        connection = await nats.connect(nats_url)
        try:
            js = connection.jetstream()
            try:
                state = (await js.stream_info(topology.fires_stream)).state
            except NotFoundError:
                return []
            fires = []
            for sequence in range(state.first_seq, state.last_seq + 1):
                with contextlib.suppress(NotFoundError):
                    message = await js.get_msg(topology.fires_stream, sequence)
                    fires.append(fire_of(message.data or b""))
            return fires
        finally:
            await connection.close()
    return asyncio.run(read())


def stream_size(nats_url: str, topology: Topology) -> int:
    """How many messages the fires stream holds (a work queue: those not yet recorded)."""
    async def read() -> int:
        connection = await nats.connect(nats_url)
        try:
            return int((await connection.jetstream().stream_info(
                topology.fires_stream)).state.messages)
        except NotFoundError:
            return 0
        finally:
            await connection.close()
    return asyncio.run(read())


def publish_raw(nats_url: str, topology: Topology, body: bytes, msg_id: str) -> None:
    """Publish a message on the fires subject as a collector would, with this message id."""
    async def publish() -> None:
        connection = await nats.connect(nats_url)
        try:
            await connection.jetstream().publish(
                topology.fires_subject, body,
                headers={"Nats-Msg-Id": msg_id, "Convtrack-Deployment": topology.deployment})
        finally:
            await connection.close()
    asyncio.run(publish())


def drop_fires_stream(nats_url: str, topology: Topology) -> None:
    """Delete a test's fires stream (and its consumer), and its events stream if one was made:
    every stream reserves its byte limit on the shared server."""
    async def drop() -> None:
        connection = await nats.connect(nats_url)
        try:
            for stream in (topology.fires_stream, topology.stream):
                with contextlib.suppress(Exception):
                    await connection.jetstream().delete_stream(stream)
        finally:
            await connection.close()
    asyncio.run(drop())
