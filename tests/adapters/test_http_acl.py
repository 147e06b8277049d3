"""Access control over HTTP, end to end on PostgreSQL: a matrix of callers × operations.

docs/api.md: 401 no or bad credentials; 403 authenticated but not allowed; 404 unknown or not
visible to the caller. Roles on a shared tag: viewer reads; editor also manages the tag's actions
and sends conversions for them; admin also manages domains and grants; the owner has every
right. Campaigns are their owner's alone. The admin token creates accounts and sends touches
(and consent changes) but manages nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import TestClient

from tests.adapters.own_schema import app_in_own_schema

ADMIN_TOKEN = "admin_acl_token"
CALLERS = ("owner", "admin", "editor", "viewer", "stranger", "admin_token", "none", "bad_key")
RECENT = (datetime.now(UTC) - timedelta(hours=1)).isoformat()


@dataclass
class Shop:
    """One tag owned by `owner` and shared with an admin, an editor and a viewer."""

    client: TestClient[Litestar]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    account_ids: dict[str, str] = field(default_factory=dict)
    tag: str = ""
    action: str = ""
    campaign: str = ""

    def as_(self, caller: str) -> dict[str, str]:
        return self.headers[caller]

    def new_account(self) -> tuple[str, dict[str, str]]:
        created = self.client.post("/v1/accounts", json={"name": "n"},
                                   headers=self.as_("admin_token")).json()
        return created["account_id"], {"Authorization": f"Bearer {created['api_key']}"}

    def new_action(self, by: str = "owner", **fields: Any) -> Response:
        body = {"tag_id": self.tag, "name": "A", "category": "lead"} | fields
        return self.client.post("/v1/conversion-actions", json=body, headers=self.as_(by))


@pytest.fixture(scope="module")
def shop(database_url: str) -> Iterator[Shop]:
    with app_in_own_schema(database_url, ADMIN_TOKEN) as (client, _):
        shop = Shop(client)
        shop.headers = {"admin_token": {"Authorization": f"Bearer {ADMIN_TOKEN}"}, "none": {},
                        "bad_key": {"Authorization": "Bearer ct_0123_not-a-key"}}
        for name in ("owner", "admin", "editor", "viewer", "stranger"):
            shop.account_ids[name], shop.headers[name] = shop.new_account()
        shop.tag = client.post("/v1/tags", json={"name": "shop"},
                               headers=shop.as_("owner")).json()["tag_id"]
        for role in ("admin", "editor", "viewer"):
            granted = client.post(f"/v1/tags/{shop.tag}/grants", headers=shop.as_("owner"),
                                  json={"account_id": shop.account_ids[role], "role": role})
            assert granted.status_code == 201, granted.text
        shop.campaign = client.post("/v1/campaigns", json={"name": "C", "type": "text_ad"},
                                    headers=shop.as_("owner")).json()["campaign_id"]
        shop.action = shop.new_action(campaign_ids=[shop.campaign]).json()["action_id"]
        yield shop


def fresh() -> str:
    return uuid.uuid4().hex[:12]


# --- operations: each takes the shop and the caller's headers, and answers a Response ------------

Operation = Callable[[Shop, dict[str, str]], Response]


def register_domain(shop: Shop, h: dict[str, str]) -> Response:
    return shop.client.post(f"/v1/tags/{shop.tag}/domains", json={"domain": f"{fresh()}.example"},
                            headers=h)


def remove_domain(shop: Shop, h: dict[str, str]) -> Response:
    domain = f"{fresh()}.example"
    shop.client.post(f"/v1/tags/{shop.tag}/domains", json={"domain": domain},
                     headers=shop.as_("owner"))
    return shop.client.delete(f"/v1/tags/{shop.tag}/domains/{domain}", headers=h)


def grant(shop: Shop, h: dict[str, str]) -> Response:
    grantee, _ = shop.new_account()
    return shop.client.post(f"/v1/tags/{shop.tag}/grants", headers=h,
                            json={"account_id": grantee, "role": "viewer"})


def revoke(shop: Shop, h: dict[str, str]) -> Response:
    grantee, _ = shop.new_account()
    shop.client.post(f"/v1/tags/{shop.tag}/grants", headers=shop.as_("owner"),
                     json={"account_id": grantee, "role": "viewer"})
    return shop.client.delete(f"/v1/tags/{shop.tag}/grants/{grantee}", headers=h)


def archive_action(shop: Shop, h: dict[str, str]) -> Response:
    action = shop.new_action().json()["action_id"]
    return shop.client.post(f"/v1/conversion-actions/{action}/archive", headers=h)


def send_conversion(shop: Shop, h: dict[str, str]) -> Response:
    item = {"event_id": fresh(), "action_id": shop.action, "member_id": "m1",
            "occurred_at": RECENT}
    return shop.client.post("/v1/conversions", json={"conversions": [item]}, headers=h)


def send_touch(shop: Shop, h: dict[str, str]) -> Response:
    item = {"event_id": fresh(), "member_id": "m1", "kind": "click",
            "campaign_id": shop.campaign, "occurred_at": RECENT}
    return shop.client.post("/v1/touches", json={"touches": [item]}, headers=h)


def spend(shop: Shop, h: dict[str, str]) -> Response:
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    return shop.client.post(f"/v1/campaigns/{shop.campaign}/spend", headers=h,
                            json={"day": day, "amount_minor": 100, "currency": "USD"})


OPERATIONS: dict[str, Operation] = {
    "read tag": lambda s, h: s.client.get(f"/v1/tags/{s.tag}", headers=h),
    "list tags": lambda s, h: s.client.get("/v1/tags", headers=h),
    "snippet": lambda s, h: s.client.get(f"/v1/tags/{s.tag}/snippet", headers=h),
    "debug": lambda s, h: s.client.post(f"/v1/tags/{s.tag}/debug", headers=h,
                                        json={"url": "https://shop.example/thanks"}),
    "register domain": register_domain,
    "remove domain": remove_domain,
    "grant": grant,
    "revoke": revoke,
    "list grants": lambda s, h: s.client.get(f"/v1/tags/{s.tag}/grants", headers=h),
    "create action": lambda s, h: s.client.post("/v1/conversion-actions", headers=h, json={
        "tag_id": s.tag, "name": "New", "category": "sign_up"}),
    "edit action": lambda s, h: s.client.patch(f"/v1/conversion-actions/{s.action}", headers=h,
                                               json={"name": f"Buy {fresh()}"}),
    "archive action": archive_action,
    "read action": lambda s, h: s.client.get(f"/v1/conversion-actions/{s.action}", headers=h),
    "list actions of the tag": lambda s, h: s.client.get(
        "/v1/conversion-actions", params={"tag_id": s.tag}, headers=h),
    "list all actions": lambda s, h: s.client.get("/v1/conversion-actions", headers=h),
    "send conversions": send_conversion,
    "create campaign": lambda s, h: s.client.post("/v1/campaigns", headers=h, json={
        "name": "Mine", "type": "other"}),
    "read campaign": lambda s, h: s.client.get(f"/v1/campaigns/{s.campaign}", headers=h),
    "list campaigns": lambda s, h: s.client.get("/v1/campaigns", headers=h),
    "edit campaign": lambda s, h: s.client.patch(f"/v1/campaigns/{s.campaign}", headers=h,
                                                 json={"name": "C"}),
    "record spend": spend,
    "create account": lambda s, h: s.client.post("/v1/accounts", json={"name": "x"}, headers=h),
    "send touches": send_touch,
    "opt out": lambda s, h: s.client.post(f"/v1/members/m-{fresh()}/opt-out", headers=h),
    "opt in": lambda s, h: s.client.post(f"/v1/members/m-{fresh()}/opt-in", headers=h),
}

L, H = "listed", "hidden"  # for lists: 200, with or without the shop's tag / action / campaign
A, F, U = "accepted", "rejected:forbidden", "rejected:unknown_action"  # per-item answers

# Expected answer per caller, in the order of CALLERS:
#                              owner admin editor viewer stranger token none bad_key
MATRIX: dict[str, tuple[int | str, ...]] = {
    "read tag":                (200, 200, 200, 200, 404, 403, 401, 401),
    "list tags":               (L,   L,   L,   L,   H,   403, 401, 401),
    "snippet":                 (200, 200, 200, 200, 404, 403, 401, 401),
    "debug":                   (200, 200, 200, 200, 404, 403, 401, 401),
    "register domain":         (201, 201, 403, 403, 404, 403, 401, 401),
    "remove domain":           (200, 200, 403, 403, 404, 403, 401, 401),
    "grant":                   (201, 201, 403, 403, 404, 403, 401, 401),
    "revoke":                  (200, 200, 403, 403, 404, 403, 401, 401),
    "list grants":             (200, 200, 200, 200, 404, 403, 401, 401),
    # The tag is named in the body: an invisible one is an unknown reference (docs/api.md: 422).
    "create action":           (201, 201, 201, 403, 422, 403, 401, 401),
    "edit action":             (200, 200, 200, 403, 404, 403, 401, 401),
    "archive action":          (200, 200, 200, 403, 404, 403, 401, 401),
    "read action":             (200, 200, 200, 200, 404, 403, 401, 401),
    "list actions of the tag": (200, 200, 200, 200, 404, 403, 401, 401),
    "list all actions":        (L,   L,   L,   L,   H,   403, 401, 401),
    # A batch answers 200 per item: the item says whether the caller may send for the action.
    "send conversions":        (A,   A,   A,   F,   U,   403, 401, 401),
    "create campaign":         (201, 201, 201, 201, 201, 403, 401, 401),
    "read campaign":           (200, 404, 404, 404, 404, 403, 401, 401),
    "list campaigns":          (L,   H,   H,   H,   H,   403, 401, 401),
    "edit campaign":           (200, 404, 404, 404, 404, 403, 401, 401),
    "record spend":            (201, 404, 404, 404, 404, 403, 401, 401),
    "create account":          (403, 403, 403, 403, 403, 201, 401, 401),
    "send touches":            (403, 403, 403, 403, 403, 200, 401, 401),
    "opt out":                 (403, 403, 403, 403, 403, 200, 401, 401),
    "opt in":                  (403, 403, 403, 403, 403, 200, 401, 401),
}


def observed(shop: Shop, operation: str, response: Response) -> int | str:
    """What the matrix compares: the status, or for lists and batches what the body says."""
    if response.status_code != 200:
        return response.status_code
    if operation in ("list tags", "list all actions", "list campaigns"):
        key = {"list tags": "tag_id", "list all actions": "action_id",
               "list campaigns": "campaign_id"}[operation]
        wanted = {"tag_id": shop.tag, "action_id": shop.action, "campaign_id": shop.campaign}[key]
        return L if wanted in [i[key] for i in response.json()["items"]] else H
    if operation == "send conversions":
        (result,) = response.json()["results"]
        return ":".join(p for p in (result["status"], result["reason"]) if p)
    return 200


CASES = [(operation, caller, expected)
         for operation, row in MATRIX.items() for caller, expected in zip(CALLERS, row, strict=True)]


def test_the_matrix_covers_every_operation_and_every_caller() -> None:
    assert set(MATRIX) == set(OPERATIONS)
    assert all(len(row) == len(CALLERS) for row in MATRIX.values())


@pytest.mark.parametrize(("operation", "caller", "expected"), CASES,
                         ids=[f"{o}-{c}" for o, c, _ in CASES])
def test_access_matrix(shop: Shop, operation: str, caller: str, expected: int | str) -> None:
    response = OPERATIONS[operation](shop, shop.as_(caller))
    assert observed(shop, operation, response) == expected, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail", "field"} and body["detail"]
        assert body["error"] == {401: "unauthenticated", 403: "forbidden", 404: "not_found",
                                 422: "unknown_reference"}[response.status_code]


def test_an_unknown_id_in_the_path_is_404_for_everyone_with_credentials(shop: Shop) -> None:
    unknown = str(uuid.uuid4())
    for path in (f"/v1/tags/{unknown}", f"/v1/tags/{unknown}/grants",
                 f"/v1/tags/{unknown}/snippet", f"/v1/conversion-actions/{unknown}",
                 f"/v1/campaigns/{unknown}", "/v1/tags/not-a-uuid"):
        assert shop.client.get(path, headers=shop.as_("owner")).status_code == 404, path


def test_a_revoked_grant_takes_effect_on_the_next_request(shop: Shop) -> None:
    account, key = shop.new_account()
    owner = shop.as_("owner")
    shop.client.post(f"/v1/tags/{shop.tag}/grants", headers=owner,
                     json={"account_id": account, "role": "editor"})
    assert shop.client.get(f"/v1/tags/{shop.tag}", headers=key).status_code == 200
    assert observed(shop, "send conversions", send_conversion(shop, key)) == A
    revoked = shop.client.delete(f"/v1/tags/{shop.tag}/grants/{account}", headers=owner)
    assert (revoked.status_code, revoked.json()) == (200, {"account_id": account, "role": None})
    assert shop.client.get(f"/v1/tags/{shop.tag}", headers=key).status_code == 404
    assert shop.client.get("/v1/tags", headers=key).json()["items"] == []
    assert shop.client.get(f"/v1/conversion-actions/{shop.action}", headers=key).status_code == 404
    assert observed(shop, "send conversions", send_conversion(shop, key)) == U


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_a_grantee_leaves_a_share_by_revoking_its_own_grant(shop: Shop, role: str) -> None:
    account, key = shop.new_account()
    shop.client.post(f"/v1/tags/{shop.tag}/grants", headers=shop.as_("owner"),
                     json={"account_id": account, "role": role})
    left = shop.client.delete(f"/v1/tags/{shop.tag}/grants/{account}", headers=key)
    assert (left.status_code, left.json()) == (200, {"account_id": account, "role": None})
    assert shop.client.get("/v1/tags", headers=key).json()["items"] == []
    assert shop.client.get(f"/v1/tags/{shop.tag}", headers=key).status_code == 404
    again = shop.client.delete(f"/v1/tags/{shop.tag}/grants/{account}", headers=key)
    assert (again.status_code, again.json()["error"]) == (404, "not_found")
    grants = shop.client.get(f"/v1/tags/{shop.tag}/grants", headers=shop.as_("owner")).json()
    assert account not in [g["account_id"] for g in grants["items"]]


def test_leaving_is_only_for_ones_own_grant(shop: Shop) -> None:
    other, _ = shop.new_account()
    shop.client.post(f"/v1/tags/{shop.tag}/grants", headers=shop.as_("owner"),
                     json={"account_id": other, "role": "viewer"})
    for caller in ("editor", "viewer"):
        refused = shop.client.delete(f"/v1/tags/{shop.tag}/grants/{other}",
                                     headers=shop.as_(caller))
        assert refused.status_code == 403, caller
    owner = shop.account_ids["owner"]  # the owner holds no grant: nothing to leave
    assert shop.client.delete(f"/v1/tags/{shop.tag}/grants/{owner}",
                              headers=shop.as_("owner")).status_code == 404
    stranger = shop.account_ids["stranger"]  # not visible: as if the tag did not exist
    assert shop.client.delete(f"/v1/tags/{shop.tag}/grants/{stranger}",
                              headers=shop.as_("stranger")).status_code == 404


def test_a_downgraded_grant_takes_effect_on_the_next_request(shop: Shop) -> None:
    account, key = shop.new_account()
    owner = shop.as_("owner")
    shop.client.post(f"/v1/tags/{shop.tag}/grants", headers=owner,
                     json={"account_id": account, "role": "admin"})
    assert register_domain(shop, key).status_code == 201
    shop.client.post(f"/v1/tags/{shop.tag}/grants", headers=owner,
                     json={"account_id": account, "role": "viewer"})
    assert register_domain(shop, key).status_code == 403
    assert observed(shop, "send conversions", send_conversion(shop, key)) == F
    tag = shop.client.get(f"/v1/tags/{shop.tag}", headers=key).json()
    assert tag["role"] == "viewer"


def test_an_action_links_only_campaigns_of_its_editor_or_of_the_tags_owner(shop: Shop) -> None:
    def campaign_of(caller: str) -> str:
        created = shop.client.post("/v1/campaigns", json={"name": caller, "type": "other"},
                                   headers=shop.as_(caller))
        return str(created.json()["campaign_id"])

    owners, editors, strangers = (campaign_of(c) for c in ("owner", "editor", "stranger"))
    admins = campaign_of("admin")
    linked = shop.new_action("editor", campaign_ids=[owners, editors])
    assert linked.status_code == 201, linked.text
    action = linked.json()["action_id"]
    # (who, links, first refused link on the action above, first refused on a new action):
    # the owner may keep the editor's link already on the action, not add it to a new one.
    for by, ids, on_edit, on_create in (("editor", [owners, strangers], 1, 1),
                                        ("editor", [admins], 0, 0),  # another grantee's
                                        ("owner", [editors, owners, strangers], 2, 0)):
        refused = shop.client.patch(f"/v1/conversion-actions/{action}", headers=shop.as_(by),
                                    json={"campaign_ids": ids})
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == f"campaign_ids[{on_edit}]"
        created = shop.new_action(by, campaign_ids=ids)
        assert (created.status_code, created.json()["field"]) == (
            422, f"campaign_ids[{on_create}]")
    current = shop.client.get(f"/v1/conversion-actions/{action}", headers=shop.as_("viewer"))
    assert current.json()["campaign_ids"] == [owners, editors]


def test_the_admin_token_sends_touches_and_creates_accounts_but_manages_no_tag(
    shop: Shop,
) -> None:
    token = shop.as_("admin_token")
    assert OPERATIONS["create account"](shop, token).status_code == 201
    assert observed(shop, "send touches", send_touch(shop, token)) == 200
    assert shop.client.post("/v1/tags", json={"name": "x"}, headers=token).status_code == 403
    assert register_domain(shop, token).status_code == 403
    assert send_conversion(shop, token).status_code == 403


def test_an_account_key_cannot_send_touches_or_change_consent(shop: Shop) -> None:
    for caller in ("owner", "admin", "stranger"):
        refused = send_touch(shop, shop.as_(caller))
        assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
        assert OPERATIONS["opt out"](shop, shop.as_(caller)).status_code == 403


@pytest.mark.parametrize("authorization", [
    "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "admin_acl_token", f"Bearer {ADMIN_TOKEN}x",
    "Bearer ct_", "Bearer ct_00000000000000000000000000000000_secret", "Token ct_x_y"])
def test_malformed_or_wrong_credentials_are_401(shop: Shop, authorization: str) -> None:
    response = shop.client.get("/v1/tags", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


def test_a_key_of_one_account_with_the_secret_of_another_is_401(shop: Shop) -> None:
    owner = shop.as_("owner")["Authorization"].removeprefix("Bearer ")
    viewer = shop.as_("viewer")["Authorization"].removeprefix("Bearer ")
    forged = owner.rsplit("_", 1)[0] + "_" + viewer.rsplit("_", 1)[1]
    response = shop.client.get("/v1/tags", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
