"""The read API end to end: facts in over HTTP, projections caught up from the store, reads out."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date().isoformat()
GROUP_NAMES = ("campaign", "action", "day", "kind", "category")


def ago(days: float = 0, hours: float = 0) -> str:
    return (NOW - timedelta(days=days, hours=hours)).isoformat().replace("+00:00", "Z")


class Shop:
    """An advertiser set up over HTTP: account, tag, two campaigns, two actions."""

    def __init__(self, client: TestClient[Litestar], admin: dict[str, str]) -> None:
        self.client, self.admin = client, admin
        self.auth = self.account("shop")
        self.tag_id = self.post("/v1/tags", {"name": "shop"})["tag_id"]
        self.c1 = self.post("/v1/campaigns", {"name": "one", "type": "text_ad",
                                              "status": "active"})["campaign_id"]
        self.c2 = self.post("/v1/campaigns", {"name": "two", "type": "video_ad",
                                              "status": "active"})["campaign_id"]
        self.download = self.action("download", [self.c1, self.c2])
        self.purchase = self.action("purchase", [self.c1, self.c2])

    def account(self, name: str) -> dict[str, str]:
        response = self.client.post("/v1/accounts", json={"name": name}, headers=self.admin)
        assert response.status_code == 201, response.text
        self.last_account_id = response.json()["account_id"]
        return {"Authorization": f"Bearer {response.json()['api_key']}"}

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
             ) -> Any:
        response = self.client.post(path, json=body, headers=headers or self.auth)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def action(self, category: str, campaigns: list[str]) -> str:
        return str(self.post("/v1/conversion-actions", {
            "tag_id": self.tag_id, "name": category, "category": category,
            "campaign_ids": campaigns})["action_id"])

    def touch(self, event_id: str, member: str, kind: str, campaign: str, at: str) -> None:
        [result] = self.post("/v1/touches", {"touches": [{
            "event_id": event_id, "member_id": member, "kind": kind, "campaign_id": campaign,
            "occurred_at": at}]}, self.admin)["results"]
        assert result["status"] == "accepted", result

    def convert(self, event_id: str, member: str, action: str, at: str,
                value: dict[str, Any] | None = None) -> str:
        [result] = self.post("/v1/conversions", {"conversions": [{
            "event_id": event_id, "action_id": action, "member_id": member, "occurred_at": at,
            "value": value}]})["results"]
        return str(result["status"])

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=headers or self.auth)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def shop(client: TestClient[Litestar], admin_headers: dict[str, str],
         catch_up: Callable[[], int]) -> Shop:
    """A shop with touches and conversions of two members, projected."""
    shop = Shop(client, admin_headers)
    shop.touch("i1", "m1", "impression", shop.c1, ago(5))
    shop.touch("k1", "m1", "click", shop.c2, ago(3))
    shop.touch("i2", "m2", "impression", shop.c2, ago(2))
    shop.convert("x1", "m1", shop.download, ago(1))
    shop.convert("x2", "m1", shop.download, ago(0, hours=20))  # deduplicated (counting one)
    shop.convert("p1", "m1", shop.purchase, ago(1), {"amount_minor": 10000, "currency": "USD"})
    shop.convert("p2", "m2", shop.purchase, ago(1), {"amount_minor": 2500, "currency": "USD"})
    shop.convert("x3", "m3", shop.download, ago(0, hours=1))  # no touches: unattributed
    shop.post(f"/v1/campaigns/{shop.c2}/spend", {"day": TODAY, "amount_minor": 5000,
                                                 "currency": "USD"})
    catch_up()
    return shop


def test_conversions_are_listed_newest_first_with_their_attributions(shop: Shop) -> None:
    page = shop.get("/v1/conversions")
    # equal times: (occurred_at, event_id) descending
    assert [i["event_id"] for i in page["items"]] == ["x3", "x2", "x1", "p2", "p1"]
    by_id = {i["event_id"]: i for i in page["items"]}
    assert by_id["x1"]["status"] == "attributed"
    assert {(a["campaign_id"], a["kind"], a["touch_event_id"])
            for a in by_id["x1"]["attributions"]} == {(shop.c1, "post_view", "i1"),
                                                      (shop.c2, "post_click", "k1")}
    assert by_id["x2"]["status"] == "deduplicated" and by_id["x2"]["attributions"] == []
    assert by_id["x3"]["status"] == "unattributed"
    assert by_id["p1"]["value"] == {"amount_minor": 10000, "currency": "USD"}
    assert by_id["x1"]["occurred_at"].endswith("Z") and page["next_cursor"] is None


def test_the_cursor_pages_through_every_conversion_exactly_once(shop: Shop) -> None:
    seen, cursor = [], None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = shop.get("/v1/conversions", **params)
        seen += [i["event_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["p1", "p2", "x1", "x2", "x3"] and len(seen) == 5


@pytest.mark.parametrize(("params", "expected"), [
    ({"status": "unattributed"}, {"x3"}),
    ({"member_id": "m2"}, {"p2"}),
    ({"campaign_id": "c2"}, {"x1", "p1", "p2"}),
    ({"action_id": "purchase"}, {"p1", "p2"}),
    ({"from": ago(0, hours=21)}, {"x2", "x3"}),
    ({"to": ago(0, hours=21)}, {"x1", "p1", "p2"}),
    ({"from": TODAY, "to": TODAY}, None),
])
def test_conversions_can_be_filtered(shop: Shop, params: dict[str, str],
                                     expected: set[str] | None) -> None:
    names = {"c2": shop.c2, "purchase": shop.purchase}
    resolved = {k: names.get(v, v) for k, v in params.items()}
    found = {i["event_id"] for i in shop.get("/v1/conversions", **resolved)["items"]}
    if expected is None:  # a day as both bounds: everything that occurred that UTC day
        expected = {i["event_id"] for i in shop.get("/v1/conversions")["items"]
                    if i["occurred_at"].startswith(TODAY)}
    assert found == expected


def test_a_viewer_sees_the_tag_conversions_and_a_stranger_sees_nothing(shop: Shop) -> None:
    viewer = shop.account("viewer")
    shop.post(f"/v1/tags/{shop.tag_id}/grants", {"account_id": shop.last_account_id,
                                                 "role": "viewer"})
    stranger = shop.account("stranger")
    assert len(shop.get("/v1/conversions", viewer)["items"]) == 5
    assert shop.get("/v1/conversions", stranger)["items"] == []
    response = shop.client.get("/v1/conversions/x1/explanation", headers=stranger)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert shop.get("/v1/reports/conversions", stranger)["rows"][0]["conversions"] == 0
    assert shop.client.get("/v1/conversions", headers=shop.admin).status_code == 403


def test_the_explanation_gives_settings_verdicts_counting_and_the_ledger(
    shop: Shop, catch_up: Callable[[], int]
) -> None:
    assert shop.convert("x1", "m1", shop.download, ago(1)) == "duplicate"
    catch_up()
    body = shop.get("/v1/conversions/x1/explanation")
    assert body["status"] == "attributed" and body["summary"].startswith("Attributed to")
    assert body["settings"]["click_window_days"] == 30 and body["settings"]["counting"] == "one"
    verdicts = {c["touch_event_id"]: c["verdict"] for c in body["candidates"]}
    assert verdicts == {"i1": "credited", "k1": "credited"}
    assert body["counting"]["mode"] == "one" and body["counting"]["decision"].startswith("Counted")
    assert body["ledger"]["scope"] == f"conversion:{shop.tag_id}"
    assert body["ledger"]["recorded"]["source"] == "api"
    [copy] = body["ledger"]["duplicates"]
    assert copy["source"] == "api" and copy["payload"]["event_id"] == "x1"
    second = shop.get("/v1/conversions/x2/explanation")
    assert second["status"] == "deduplicated"
    assert "already_counted" in {c["verdict"] for c in second["candidates"]}
    assert shop.get("/v1/conversions/x1/explanation", tag_id=shop.tag_id)["event_id"] == "x1"


def _group_bys() -> list[tuple[str, ...]]:
    return [combo for n in range(len(GROUP_NAMES) + 1)
            for combo in itertools.combinations(GROUP_NAMES, n)]


def test_every_group_by_combination_reports_the_same_totals(shop: Shop) -> None:
    for combo in _group_bys():
        rows = shop.get("/v1/reports/conversions", group_by=",".join(combo))["rows"]
        keys = {"campaign": "campaign_id", "action": "action_id", "day": "day", "kind": "kind",
                "category": "category"}
        assert all(set(r) >= {keys[n] for n in combo} for r in rows), combo
        assert all(not set(r) & {keys[n] for n in GROUP_NAMES if n not in combo} for r in rows)
        if "campaign" in combo or "kind" in combo:
            continue  # a conversion with two credits counts in each campaign / kind
        assert sum(r["conversions"] for r in rows) == 3, combo  # x1, p1, p2 are attributed
        assert sum(r["value_minor"] for r in rows) == 12500, combo


def test_a_report_by_campaign_has_spend_cost_per_conversion_and_roas(shop: Shop) -> None:
    rows = {r["campaign_id"]: r for r in shop.get(
        "/v1/reports/conversions", group_by="campaign", **{"from": TODAY, "to": TODAY})["rows"]}
    yesterday = {r["campaign_id"]: r for r in shop.get(
        "/v1/reports/conversions", group_by="campaign")["rows"]}
    c2 = yesterday[shop.c2]
    assert (c2["conversions"], c2["post_click"], c2["post_view"]) == (3, 2, 1)
    assert (c2["value_minor"], c2["currency"], c2["spend_minor"]) == (12500, "USD", 5000)
    assert c2["cost_per_conversion_minor"] == 1667 and c2["roas"] == 2.5
    assert yesterday[shop.c1]["spend_minor"] == 0
    assert shop.c2 in rows  # today: spend, maybe no conversions
    by_action = shop.get("/v1/reports/conversions", group_by="campaign,action")["rows"]
    assert all(r["spend_minor"] is None and r["roas"] is None for r in by_action)


def test_a_report_answers_csv_when_asked(shop: Shop) -> None:
    response = shop.client.get("/v1/reports/conversions", params={"group_by": "action,kind"},
                               headers=shop.auth | {"Accept": "text/csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0])[:3] == ["action_id", "kind", "conversions"]
    assert sum(int(r["conversions"]) for r in rows) == 5  # x1, p1 count in both kinds


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/v1/conversions", {"from": "yesterday"}, "from"),
    ("/v1/conversions", {"cursor": "not-a-cursor"}, "cursor"),
    ("/v1/reports/conversions", {"group_by": "campaign,colour"}, "group_by"),
    ("/v1/reports/conversions", {"from": "2026-13-01"}, "from"),
    ("/v1/audit", {"cursor": "x"}, "cursor"),
])
def test_bad_read_parameters_are_answered_400_naming_the_parameter(
    shop: Shop, path: str, params: dict[str, str], field: str
) -> None:
    response = shop.client.get(path, params=params, headers=shop.auth)
    assert response.status_code == 400 and response.json()["field"] == field


def test_the_audit_trail_shows_own_and_visible_tag_changes_with_their_actor(shop: Shop) -> None:
    items = shop.get("/v1/audit")["items"]
    types = [i["type"] for i in items]
    assert "InsightTag.Created" in types and "Campaign.SpendRecorded" in types
    owner = next(i["aggregate_id"] for i in items if i["type"] == "Account.Created")
    assert {i["actor"] for i in items} == {"admin", f"account:{owner}"}
    assert [i["position"] for i in items] == sorted(i["position"] for i in items)
    one = shop.get("/v1/audit", aggregate_id=shop.c2)["items"]
    assert {i["aggregate_id"] for i in one} == {shop.c2}
    viewer = shop.account("viewer")
    shop.post(f"/v1/tags/{shop.tag_id}/grants", {"account_id": shop.last_account_id,
                                                 "role": "viewer"})
    stranger = shop.account("stranger")
    seen_by_viewer = {i["aggregate_id"] for i in shop.get("/v1/audit", viewer)["items"]}
    assert shop.tag_id in seen_by_viewer and shop.download in seen_by_viewer
    assert shop.c2 not in seen_by_viewer  # campaigns are their owner's
    assert {i["aggregate_id"] for i in shop.get("/v1/audit", stranger)["items"]} <= {
        shop.last_account_id}
    page = shop.get("/v1/audit", limit=2)
    assert len(page["items"]) == 2 and page["next_cursor"] == str(page["items"][-1]["position"])


def test_the_openapi_document_describes_the_read_endpoints(shop: Shop) -> None:
    paths = shop.get("/schema/openapi.json")["paths"]
    for path in ("/v1/conversions", "/v1/conversions/{event_id}/explanation",
                 "/v1/reports/conversions", "/v1/audit"):
        operation = paths[path]["get"]
        assert "application/json" in operation["responses"]["200"]["content"], path
    assert "post" in paths["/v1/conversions"]
