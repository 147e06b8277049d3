"""Shared set-up of the bad-input tests: one app and one schema per test module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.bootstrap import Container
from tests.adapters.own_schema import app_in_own_schema


ADMIN = {"Authorization": "Bearer admin_bad_input_token"}
# Fixed at import: the cases keep margins of hours or days from every limit, so a long suite
# cannot move one across (the exact limits are tested in tests/domain/test_validation.py).
NOW = datetime.now(UTC).replace(microsecond=0)
RECENT = (NOW - timedelta(hours=1)).isoformat()


@dataclass
class Api:
    """The app on its own schema, an advertiser's key and the ids its data has."""

    client: TestClient[Litestar]
    container: Container
    key: dict[str, str]
    tag: str
    campaign: str
    action: str
    other_account: str
    strangers_campaign: str


@pytest.fixture(scope="module")
def api(database_url: str) -> Iterator[Api]:
    with app_in_own_schema(database_url, ADMIN["Authorization"].split()[1]) as (client, app):
        yield _populate(client, app)


def _populate(client: TestClient[Litestar], container: Container) -> Api:
    def ok(response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201), response.text
        return response.json()  # type: ignore[no-any-return]

    owner = ok(client.post("/v1/accounts", json={"name": "Owner"}, headers=ADMIN))
    other = ok(client.post("/v1/accounts", json={"name": "Other"}, headers=ADMIN))
    key = {"Authorization": f"Bearer {owner['api_key']}"}
    tag = ok(client.post("/v1/tags", json={"name": "shop"}, headers=key))
    campaign = ok(client.post("/v1/campaigns", json={"name": "C", "type": "text_ad"},
                              headers=key))
    strangers = ok(client.post("/v1/campaigns", json={"name": "S", "type": "text_ad"},
                               headers={"Authorization": f"Bearer {other['api_key']}"}))
    action = ok(client.post("/v1/conversion-actions", headers=key, json={
        "tag_id": tag["tag_id"], "name": "Buy", "category": "purchase",
        "campaign_ids": [campaign["campaign_id"]]}))
    return Api(client, container, key, tag["tag_id"], campaign["campaign_id"],
               action["action_id"], other["account_id"], strangers["campaign_id"])


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


