"""`GET /v1/projections` and `GET /metrics` over a real PostgreSQL (issue 3, item 5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from litestar import Litestar
from litestar.testing import TestClient

from adapters.bootstrap import Container
from tests.adapters.read_side_support import store_positions


def send_facts(client: TestClient[Litestar], admin: dict[str, str]) -> None:
    account = client.post("/v1/accounts", json={"name": "Ops"}, headers=admin).json()
    key = {"Authorization": f"Bearer {account['api_key']}"}
    campaign = client.post("/v1/campaigns", json={"name": "C", "type": "text_ad"},
                           headers=key).json()
    now = datetime.now(UTC).isoformat()
    touches = [{"event_id": f"t{i}", "member_id": "m1", "kind": "click",
                "campaign_id": campaign["campaign_id"], "occurred_at": now} for i in range(3)]
    touches.append({"event_id": "bad", "member_id": "m1", "kind": "glance",
                    "campaign_id": campaign["campaign_id"], "occurred_at": now})
    client.post("/v1/touches", headers=admin, json={"touches": touches})
    client.post("/v1/touches", headers=admin, json={"touches": touches[:1]})


def test_projections_report_the_store_position_and_each_projections_lag(
        client: TestClient[Litestar], admin_headers: dict[str, str], pg_container: Container,
        catch_up: Callable[[], int]) -> None:
    send_facts(client, admin_headers)
    heads = store_positions(pg_container)

    before = client.get("/v1/projections", headers=admin_headers).json()
    assert before["store_position"] == sum(heads.values())
    attribution = {p["name"]: p for p in before["projections"]}["attribution"]
    assert attribution["lag"] == sum(heads.values()) and attribution["position"] == 0
    assert attribution["status"] == "stopped" and attribution["parked"] == 0
    assert attribution["sources"]["ingestion"] == {
        "store_position": heads["ingestion"], "position": 0, "lag": heads["ingestion"]}

    catch_up()
    pg_container.state.report_worker("attribution", "live")
    after = client.get("/v1/projections", headers=admin_headers).json()
    for projection in after["projections"]:
        assert (projection["lag"], projection["position"]) == (0, sum(heads.values()))
    assert {p["name"]: p["status"] for p in after["projections"]}["attribution"] == "live"
    assert after["relay"]["management"]["lag"] == heads["management"]


def test_projections_need_credentials(client: TestClient[Litestar]) -> None:
    assert client.get("/v1/projections").status_code == 401


def test_metrics_count_facts_by_outcome_and_show_lags(
        client: TestClient[Litestar], admin_headers: dict[str, str]) -> None:
    send_facts(client, admin_headers)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'convtrack_facts_total{kind="touch",reason="",status="accepted"}' in text
    assert 'convtrack_facts_total{kind="touch",reason="duplicate_event_id",status="duplicate"}' \
        in text
    assert 'convtrack_facts_total{kind="touch",reason="invalid_value",status="rejected"}' in text
    assert 'convtrack_projection_lag{application="ingestion",projection="attribution"}' in text
    assert 'convtrack_relay_lag{application="management"}' in text
    assert "# TYPE convtrack_projection_latency_seconds histogram" in text
    assert 'convtrack_requests_total{app_name="convtrack",method="POST",path="/v1/touches"' in text
