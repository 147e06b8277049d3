"""API keys and account status over HTTP, on PostgreSQL (docs/api.md: Accounts; ADR 0022)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.bootstrap import Container, build_container
from domain.account import hash_api_key
from tests.conftest import ADMIN_TOKEN

Client = TestClient[Litestar]


@dataclass
class Account:
    """An account made over HTTP, with its first key."""

    account_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.api_key)

    @property
    def keys(self) -> str:
        return f"/v1/accounts/{self.account_id}/keys"


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture
def new_account(client: Client, admin_headers: dict[str, str]) -> Callable[[], Account]:
    def make() -> Account:
        created = client.post("/v1/accounts", json={"name": "Shop"}, headers=admin_headers)
        assert created.status_code == 201, created.text
        return Account(created.json()["account_id"], created.json()["api_key"])
    return make


def works(client: Client, api_key: str) -> int:
    """The status of an ordinary authenticated request made with this key."""
    return client.get("/v1/tags", headers=bearer(api_key)).status_code


def test_an_account_creates_a_key_shown_once_and_lists_its_keys_without_secrets(
    client: Client, new_account: Callable[[], Account]
) -> None:
    shop = new_account()
    created = client.post(shop.keys, headers=shop.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"key_id", "api_key", "created_at"}
    assert body["api_key"].startswith(f"ct_{shop.account_id.replace('-', '')}_")
    assert body["created_at"].endswith("Z")
    assert works(client, body["api_key"]) == 200

    listed = client.get(shop.keys, headers=shop.headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [set(i) for i in items] == [{"key_id", "created_at", "last_used_day"}] * 2
    assert items[1]["key_id"] == body["key_id"]
    today = datetime.now(UTC).date().isoformat()
    assert [i["last_used_day"] for i in items] == [today, today]  # both were just used
    for api_key in (shop.api_key, body["api_key"]):
        assert api_key not in listed.text and hash_api_key(api_key) not in listed.text


def test_the_admin_token_manages_any_accounts_keys(
    client: Client, admin_headers: dict[str, str], new_account: Callable[[], Account]
) -> None:
    shop = new_account()
    created = client.post(shop.keys, headers=admin_headers).json()
    assert works(client, created["api_key"]) == 200
    items = client.get(shop.keys, headers=admin_headers).json()["items"]
    assert len(items) == 2 and items[0]["last_used_day"] is None  # the admin used no key
    revoked = client.delete(f"{shop.keys}/{items[0]['key_id']}", headers=admin_headers)
    assert revoked.status_code == 200, revoked.text
    assert works(client, shop.api_key) == 401


def test_a_revoked_key_is_refused_on_the_next_request(
    client: Client, new_account: Callable[[], Account]
) -> None:
    shop = new_account()
    spare = client.post(shop.keys, headers=shop.headers).json()
    first = client.get(shop.keys, headers=shop.headers).json()["items"][0]["key_id"]
    # An account may revoke the very key it calls with.
    revoked = client.delete(f"{shop.keys}/{first}", headers=shop.headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["key_id"] == first and revoked.json()["revoked_at"].endswith("Z")
    refused = client.get("/v1/tags", headers=shop.headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthenticated"
    assert works(client, spare["api_key"]) == 200
    again = client.delete(f"{shop.keys}/{first}", headers=bearer(spare["api_key"]))
    assert again.status_code == 404


def test_deleting_the_last_key_is_a_conflict(
    client: Client, new_account: Callable[[], Account]
) -> None:
    shop = new_account()
    (only,) = client.get(shop.keys, headers=shop.headers).json()["items"]
    response = client.delete(f"{shop.keys}/{only['key_id']}", headers=shop.headers)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert works(client, shop.api_key) == 200


def test_another_account_cannot_list_create_or_revoke_keys_and_is_told_it_does_not_exist(
    client: Client, new_account: Callable[[], Account]
) -> None:
    shop, stranger = new_account(), new_account()
    key_id = client.get(shop.keys, headers=shop.headers).json()["items"][0]["key_id"]
    answers = [
        client.get(shop.keys, headers=stranger.headers),
        client.post(shop.keys, headers=stranger.headers),
        client.delete(f"{shop.keys}/{key_id}", headers=stranger.headers),
    ]
    unknown = client.get("/v1/accounts/00000000-0000-0000-0000-000000000000/keys",
                         headers=stranger.headers)
    for answer in answers:
        assert answer.status_code == 404, answer.text
        # Word for word what an id that does not exist gets, but for the id itself.
        assert answer.json()["error"] == unknown.json()["error"] == "not_found"
        assert answer.json()["detail"] == unknown.json()["detail"].replace(
            "00000000-0000-0000-0000-000000000000", shop.account_id)
    assert len(client.get(shop.keys, headers=shop.headers).json()["items"]) == 1


def test_a_disabled_accounts_keys_are_refused_and_accepted_again_once_enabled(
    client: Client, admin_headers: dict[str, str], new_account: Callable[[], Account]
) -> None:
    shop, neighbour = new_account(), new_account()
    spare = client.post(shop.keys, headers=shop.headers).json()["api_key"]
    disabled = client.post(f"/v1/accounts/{shop.account_id}/disable", headers=admin_headers)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json() == {"account_id": shop.account_id, "name": "Shop",
                               "status": "disabled"}
    for api_key in (shop.api_key, spare):
        for response in (client.get("/v1/tags", headers=bearer(api_key)),
                         client.get(shop.keys, headers=bearer(api_key)),
                         client.post("/v1/campaigns", json={"name": "C", "type": "text_ad"},
                                     headers=bearer(api_key))):
            assert response.status_code == 401
            assert response.json() == {"error": "unauthenticated",
                                       "detail": "the account is disabled", "field": None}
    assert works(client, neighbour.api_key) == 200
    # The admin still sees the disabled account's keys.
    assert len(client.get(shop.keys, headers=admin_headers).json()["items"]) == 2

    enabled = client.post(f"/v1/accounts/{shop.account_id}/enable", headers=admin_headers)
    assert enabled.status_code == 200 and enabled.json()["status"] == "active"
    assert works(client, shop.api_key) == works(client, spare) == 200


def test_only_the_admin_token_disables_and_enables_accounts(
    client: Client, admin_headers: dict[str, str], new_account: Callable[[], Account]
) -> None:
    shop = new_account()
    # Another last digit: an id ending in 0 already must not name the same account.
    other = shop.account_id[:-1] + ("1" if shop.account_id.endswith("0") else "0")
    for action in ("disable", "enable"):
        own = client.post(f"/v1/accounts/{shop.account_id}/{action}", headers=shop.headers)
        assert own.status_code == 403
        unknown = client.post(f"/v1/accounts/{other}/{action}", headers=admin_headers)
        assert unknown.status_code == 404
    assert works(client, shop.api_key) == 200


def test_key_and_status_changes_are_audited_with_key_ids_and_no_secrets(
    client: Client, admin_headers: dict[str, str], new_account: Callable[[], Account],
    catch_up: Callable[[], int],
) -> None:
    shop = new_account()
    spare = client.post(shop.keys, headers=shop.headers).json()
    first = client.get(shop.keys, headers=shop.headers).json()["items"][0]["key_id"]
    client.delete(f"{shop.keys}/{first}", headers=bearer(spare["api_key"]))
    client.post(f"/v1/accounts/{shop.account_id}/disable", headers=admin_headers)
    client.post(f"/v1/accounts/{shop.account_id}/enable", headers=admin_headers)
    catch_up()

    audit = client.get("/v1/audit", params={"aggregate_id": shop.account_id},
                       headers=bearer(spare["api_key"]))
    assert audit.status_code == 200, audit.text
    items = audit.json()["items"]
    trail = [(i["type"], i["actor"], i["data"]) for i in items]
    assert trail == [
        ("Account.Created", "admin",
         {"name": "Shop", "key_id": first, "originator_topic": "convtrack:Account"}),
        ("Account.KeyCreated", f"account:{shop.account_id}", {"key_id": spare["key_id"]}),
        ("Account.KeyRevoked", f"account:{shop.account_id}", {"key_id": first}),
        ("Account.Disabled", "admin", {}),
        ("Account.Enabled", "admin", {}),
    ]
    for api_key in (shop.api_key, spare["api_key"]):
        for secret in (api_key, api_key.rpartition("_")[2], hash_api_key(api_key)):
            assert secret not in audit.text


def test_a_key_revoked_through_another_process_is_refused_by_this_one(
    client: Client, pg_container: Container, new_account: Callable[[], Account]
) -> None:
    shop = new_account()
    spare = client.post(shop.keys, headers=shop.headers).json()
    first = client.get(shop.keys, headers=shop.headers).json()["items"][0]["key_id"]
    assert works(client, shop.api_key) == 200  # this process knows the key's hash now
    other = build_container(pg_container.settings, ADMIN_TOKEN)
    try:
        caller = other.management.authenticate(spare["api_key"])
        other.management.revoke_key(caller, shop.account_id, first)
    finally:
        other.close()
    assert works(client, shop.api_key) == 401
    assert works(client, spare["api_key"]) == 200


@pytest.mark.parametrize("path", ["/keys", "/keys/some-key", "/disable", "/enable"])
def test_account_calls_without_a_credential_are_401(client: Client, path: str) -> None:
    url = f"/v1/accounts/00000000-0000-0000-0000-000000000000{path}"
    calls: dict[str, Any] = {"/keys": client.get, "/keys/some-key": client.delete}
    response = calls.get(path, client.post)(url)
    assert response.status_code == 401
