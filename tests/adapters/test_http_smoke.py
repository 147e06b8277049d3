"""The HTTP app answers on a real PostgreSQL: one walk through the API."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Litestar
from litestar.testing import TestClient


def test_an_advertiser_can_set_up_tracking_and_send_facts(
    client: TestClient[Litestar], admin_headers: dict[str, str]
) -> None:
    account = client.post("/v1/accounts", json={"name": "Acme"}, headers=admin_headers)
    assert account.status_code == 201
    key = {"Authorization": f"Bearer {account.json()['api_key']}"}
    tag = client.post("/v1/tags", json={"name": "shop"}, headers=key).json()
    campaign = client.post("/v1/campaigns", json={"name": "C1", "type": "text_ad"},
                           headers=key).json()
    action = client.post("/v1/conversion-actions", headers=key, json={
        "tag_id": tag["tag_id"], "name": "Buy", "category": "purchase",
        "campaign_ids": [campaign["campaign_id"]]}).json()
    now = datetime.now(UTC).isoformat()
    touches = client.post("/v1/touches", headers=admin_headers, json={"touches": [
        {"event_id": "t1", "member_id": "m1", "kind": "click",
         "campaign_id": campaign["campaign_id"], "occurred_at": now}]})
    assert touches.json()["results"][0]["status"] == "accepted"
    conversions = client.post("/v1/conversions", headers=key, json={"conversions": [
        {"event_id": "c1", "action_id": action["action_id"], "click_id": "t1",
         "occurred_at": now}]})
    assert [r["status"] for r in conversions.json()["results"]] == ["accepted"]
    again = client.post("/v1/conversions", headers=key, json={"conversions": [
        {"event_id": "c1", "action_id": action["action_id"], "member_id": "m1",
         "occurred_at": now}]})
    assert again.json()["results"][0]["status"] == "duplicate"
