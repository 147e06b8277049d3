"""GET /v1/dead-letters end to end on PostgreSQL: scoped to the caller, newest first, paged,
filtered; payloads capped at 16 KB; expiry after CONVTRACK_DEAD_LETTER_DAYS (ADR 0028)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from litestar import Litestar
from litestar.testing import TestClient
from psycopg import sql

from adapters.bootstrap import Container

RECENT = (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def _account(client: TestClient[Litestar], admin: dict[str, str], name: str) -> dict[str, str]:
    made = client.post("/v1/accounts", json={"name": name}, headers=admin)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['api_key']}"}


def _bad_conversions(client: TestClient[Litestar], key: dict[str, str], n: int,
                     **extra: Any) -> list[str]:
    """Send n conversions for an action that does not exist; their event ids."""
    ids = [f"c-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    items = [{"event_id": e, "action_id": "act_nope", "member_id": "m1", "occurred_at": RECENT,
              **extra} for e in ids]
    sent = client.post("/v1/conversions", json={"conversions": items}, headers=key)
    assert sent.status_code == 200, sent.text
    assert all(r["status"] == "rejected" for r in sent.json()["results"]), sent.text
    return ids


def _bad_touch(client: TestClient[Litestar], admin: dict[str, str]) -> str:
    """Send one touch without a campaign; its event id."""
    event_id = f"t-{uuid.uuid4().hex[:10]}"
    sent = client.post("/v1/touches", headers=admin, json={"touches": [
        {"event_id": event_id, "member_id": "m1", "kind": "click", "occurred_at": RECENT}]})
    assert sent.status_code == 200, sent.text
    assert sent.json()["results"][0]["status"] == "rejected", sent.text
    return event_id


def _list(client: TestClient[Litestar], key: dict[str, str], **params: Any) -> dict[str, Any]:
    got = client.get("/v1/dead-letters", params=params, headers=key)
    assert got.status_code == 200, got.text
    return got.json()  # type: ignore[no-any-return]


def test_each_caller_sees_only_its_own_newest_first(
    client: TestClient[Litestar], admin_headers: dict[str, str]
) -> None:
    one, two = _account(client, admin_headers, "One"), _account(client, admin_headers, "Two")
    first = _bad_conversions(client, one, 2)
    second = _bad_conversions(client, two, 1)
    third = _bad_conversions(client, one, 1)
    touch = _bad_touch(client, admin_headers)
    mine = _list(client, one)
    assert [d["event_id"] for d in mine["items"]] == third + first[::-1]
    assert mine["next_cursor"] is None
    item = mine["items"][0]
    assert set(item) == {"event_id", "kind", "reason", "field", "detail", "received_at",
                         "payload", "truncated"}
    assert item["kind"] == "conversion" and item["truncated"] is False
    assert item["payload"]["event_id"] == third[0]
    assert [d["event_id"] for d in _list(client, two)["items"]] == second
    assert [d["event_id"] for d in _list(client, admin_headers)["items"]] == [touch]


def test_cursor_pages_and_filters(
    client: TestClient[Litestar], admin_headers: dict[str, str]
) -> None:
    key = _account(client, admin_headers, "Pager")
    sent = _bad_conversions(client, key, 5)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        page = _list(client, key, limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        seen += [d["event_id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sent[::-1]
    reason = _list(client, key)["items"][0]["reason"]
    assert len(_list(client, key, kind="conversion", reason=reason)["items"]) == 5
    assert _list(client, key, kind="touch")["items"] == []
    assert _list(client, key, reason="no_such_reason")["items"] == []
    today = datetime.now(UTC).date()
    assert len(_list(client, key, **{"from": today.isoformat()})["items"]) == 5
    assert len(_list(client, key, to=(today - timedelta(days=1)).isoformat())["items"]) == 0
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert _list(client, key, **{"from": future})["items"] == []


def test_a_large_payload_is_kept_truncated_and_flagged(
    client: TestClient[Litestar], admin_headers: dict[str, str]
) -> None:
    key = _account(client, admin_headers, "Big")
    _bad_conversions(client, key, 1, note="x" * 20_000)
    item = _list(client, key)["items"][0]
    assert item["truncated"] is True
    assert isinstance(item["payload"], str)
    assert len(item["payload"].encode()) <= 16 * 1024
    assert item["payload"].startswith("{")


def test_expiry_deletes_rows_older_than_the_setting(
    client: TestClient[Litestar], admin_headers: dict[str, str], pg_container: Container
) -> None:
    key = _account(client, admin_headers, "Old")
    old, young = _bad_conversions(client, key, 1), _bad_conversions(client, key, 1)
    settings = pg_container.settings
    assert settings.database_url is not None
    table = sql.SQL("{}.dead_letters").format(sql.Identifier(settings.database_schema))
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("UPDATE {} SET received_at = now() - interval '31 days' "
                             "WHERE event_id = %s").format(table), (old[0],))
        conn.execute(sql.SQL("UPDATE {} SET received_at = now() - interval '29 days' "
                             "WHERE event_id = %s").format(table), (young[0],))
    assert pg_container.ingestion.dead_letter_days == 30
    assert pg_container.ingestion.expire_dead_letters() == 1
    assert [d["event_id"] for d in _list(client, key)["items"]] == young


def test_bad_parameters_are_400_naming_the_field(
    client: TestClient[Litestar], admin_headers: dict[str, str]
) -> None:
    cases = [("cursor", "zz"), ("cursor", "bm90IGEgY3Vyc29y"), ("cursor", "%%%"),
             ("cursor", "ZGw6OTk5OTk5OTk5OTk5OTk5OTk5OTk5"), ("kind", "collect"),
             ("kind", ""), ("from", "yesterday"), ("to", "2026-13-01"),
             ("from", "2026-03-01T12:00:00"), ("limit", "0"), ("limit", "1001"),
             ("limit", "x"), ("reason", "r" * 201)]
    for name, value in cases:
        got = client.get("/v1/dead-letters", params={name: value}, headers=admin_headers)
        assert got.status_code == 400, (name, value, got.text)
        assert name in got.text, (name, value, got.text)
    both = {"from": "2026-03-05", "to": "2026-03-01"}
    assert client.get("/v1/dead-letters", params=both, headers=admin_headers).status_code == 400
    assert client.get("/v1/dead-letters").status_code == 401
