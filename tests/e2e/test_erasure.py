"""Erasure end to end (ADR 0027), on a real PostgreSQL and a real NATS: facts of two members go
in over HTTP, the relay publishes them to the stream, the workers apply them; one member is
erased. Then no endpoint answers their member id or click ids, neither a `pg_dump` of the
schema nor any message of the stream holds them in plain text, reports are unchanged, and read
models rebuilt from the store give the same answers and rows."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import nats
from litestar import Litestar
from litestar.testing import TestClient
from nats.js.api import ConsumerConfig, DeliverPolicy

from adapters.nats.subjects import Topology
from tests.conftest import ADMIN_TOKEN
from tests.e2e.live_answers import assert_live_equals_rebuild, read_answers, wait_for_lag_zero
from tests.e2e.live_stack import stack
from tests.e2e.test_read_api import Shop, ago

ALICE = "member-alice-5f3a"
ALICE_IDS = (ALICE, "alice-click-91c2", "alice-view-77d0")
BOB = "member-bob-0c4e"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def record_facts(shop: Shop) -> None:
    """Each member: a click and an impression; conversions by click id and by member id; a
    repeated touch (duplicate ledger) and a rejected conversion naming them (dead letters)."""
    for member, click, view, prefix in ((ALICE, ALICE_IDS[1], ALICE_IDS[2], "a"),
                                        (BOB, "bob-click-1", "bob-view-1", "b")):
        shop.touch(view, member, "impression", shop.c2, ago(6))
        shop.touch(click, member, "click", shop.c1, ago(4))
        [repeat] = shop.post("/v1/touches", {"touches": [{
            "event_id": click, "member_id": member, "kind": "click", "campaign_id": shop.c1,
            "occurred_at": ago(4)}]}, shop.admin)["results"]
        assert repeat["status"] == "duplicate"
        results = shop.post("/v1/conversions", {"conversions": [
            {"event_id": f"{prefix}-buy-1", "action_id": shop.purchase, "click_id": click,
             "occurred_at": ago(2), "value": {"amount_minor": 1500, "currency": "EUR"}},
            {"event_id": f"{prefix}-dl-1", "action_id": shop.download, "member_id": member,
             "occurred_at": ago(1)},
            {"event_id": f"{prefix}-bad", "action_id": shop.download, "member_id": member,
             "occurred_at": ago(200)},
            {"event_id": f"{prefix}-bad-click", "action_id": "no-such-action",
             "click_id": click, "occurred_at": ago(1)},
        ]})["results"]
        assert [r["status"] for r in results] == ["accepted", "accepted", "rejected", "rejected"]


def endpoint_answers(client: TestClient[Litestar], shop: Shop) -> str:
    """Everything the read endpoints answer to the advertiser and to the admin, as text."""
    answers: list[Any] = [read_answers(client, shop.auth)]
    for headers in (shop.auth, ADMIN):
        for path, params in (("/v1/conversions", {"member_id": ALICE}),
                             ("/v1/conversions", {"member_id": BOB}),
                             ("/v1/projections", {}), ("/v1/audit", {})):
            response = client.get(path, params=params, headers=headers)
            answers.append(response.text)
    return repr(answers)


def pg_dump(database_url: str, schema: str) -> str:
    return subprocess.run(["/usr/bin/pg_dump", f"--schema={schema}", database_url],
                          check=True, capture_output=True, text=True).stdout


def stream_texts(nats_url: str, topology: Topology) -> list[str]:
    """Every message of the stream, subject, headers and body, as text."""
    async def read() -> list[str]:
        connection = await nats.connect(nats_url)
        try:
            js = connection.jetstream()
            total = (await js.stream_info(topology.stream)).state.messages
            subscription = await js.pull_subscribe(
                f"{topology.root}.>", stream=topology.stream,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
            found: list[str] = []
            while len(found) < total:
                for message in await subscription.fetch(500, timeout=5):
                    found.append(repr((message.subject, message.headers,
                                       message.data.decode("utf-8", "replace"))))
                    await message.ack()
            await subscription.unsubscribe()
            return found
        finally:
            await connection.close()
    return asyncio.run(read())


def test_an_erased_member_is_nowhere_in_plain_text_and_reports_do_not_change(
        database_url: str, nats_url: str) -> None:
    with stack(database_url, nats_url, ADMIN_TOKEN) as live:
        client = live.client
        shop = Shop(client, ADMIN)
        record_facts(shop)
        wait_for_lag_zero(client, shop.auth)
        before = read_answers(client, shop.auth)
        assert ALICE in repr(before)  # the member is shown until erased
        assert len(client.get("/v1/conversions", params={"member_id": ALICE},
                              headers=shop.auth).json()["items"]) == 2

        response = client.delete(f"/v1/members/{ALICE}", headers=ADMIN)
        assert (response.status_code, response.json()) == (202, {"status": "accepted"})
        assert client.delete(f"/v1/members/{ALICE}", headers=shop.auth).status_code == 403
        wait_for_lag_zero(client, shop.auth)

        after = read_answers(client, shop.auth)
        assert after["reports"] == before["reports"]
        assert set(after["conversions"]) == set(before["conversions"])
        assert after["conversions"]["a-buy-1"]["member_id"] == "erased"
        assert after["conversions"]["a-buy-1"]["attributions"][0]["touch_event_id"] == "erased"
        assert after["conversions"]["b-buy-1"] == before["conversions"]["b-buy-1"]
        assert client.get("/v1/conversions", params={"member_id": ALICE},
                          headers=shop.auth).json()["items"] == []

        answers = endpoint_answers(client, shop)
        dump = pg_dump(database_url, live.schema)
        messages = stream_texts(nats_url, live.container.topology)
        assert messages and BOB in answers and BOB in dump  # the checks can see a member
        for secret in ALICE_IDS:
            assert secret not in answers, secret
            assert secret not in dump, secret
            assert not [m for m in messages if secret in m], secret
        assert not [m for m in messages if BOB in m]  # sealed in the stream all along

        # Read models rebuilt from the store after the erasure: same answers, same rows.
        assert_live_equals_rebuild(client, {"shop": shop.auth},
                                   live.container, database_url, live.schema)
