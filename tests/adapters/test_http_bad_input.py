"""Bad input over HTTP, end to end on PostgreSQL: every field of every fact and command.

For facts (API.md: batches) a bad item is rejected alone, naming `field` and `reason`; the valid
items of the same batch are recorded (re-sent, they are duplicates) and the bad item is kept in
the dead-letter table. For commands the answer is a 4xx with API.md's error body naming the
field. One app and one schema serve the whole module (each case uses its own ids), so the many
cases stay fast.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.bootstrap import Container
from application.fact_ledger import without_nul
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


# --- facts ------------------------------------------------------------------------------------

def good_touch(api: Api) -> dict[str, Any]:
    return {"event_id": fresh("t"), "member_id": fresh("m"), "kind": "click",
            "campaign_id": api.campaign, "occurred_at": RECENT}


def good_conversion(api: Api) -> dict[str, Any]:
    return {"event_id": fresh("c"), "action_id": api.action, "member_id": fresh("m"),
            "occurred_at": RECENT, "value": {"amount_minor": 1_000, "currency": "USD"}}


MISSING = object()  # marks a field to leave out


def with_field(item: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of the item with `path` (dotted) set to value, or removed for MISSING."""
    item = {k: (dict(v) if isinstance(v, dict) else v) for k, v in item.items()}
    *parents, last = path.split(".")
    node = item
    for parent in parents:
        node = node[parent]
    if value is MISSING:
        node.pop(last, None)
    else:
        node[last] = value
    return item


def future(minutes: int) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


def ago(days: int) -> str:
    return (NOW - timedelta(days=days, hours=1)).isoformat()


# (field path, value) → (field named in the answer, reason)
TOUCH_CASES: list[tuple[str, Any, str | None, str]] = [
    ("event_id", MISSING, "event_id", "missing_field"),
    ("event_id", 123, "event_id", "invalid_type"),
    ("event_id", None, "event_id", "invalid_type"),
    ("event_id", "", "event_id", "empty"),
    ("event_id", "e" * 201, "event_id", "too_long"),
    ("member_id", MISSING, "member_id", "missing_field"),
    ("member_id", ["m"], "member_id", "invalid_type"),
    ("member_id", "  ", "member_id", "empty"),
    ("member_id", "m\u0000x", "member_id", "not_printable"),
    ("member_id", "m\nx", "member_id", "not_printable"),
    ("kind", MISSING, "kind", "missing_field"),
    ("kind", "view", "kind", "invalid_value"),
    ("kind", "vi\u0000ew", "kind", "invalid_value"),  # NUL: PostgreSQL text cannot hold it
    ("kind", 1, "kind", "invalid_type"),
    ("campaign_id", MISSING, "campaign_id", "missing_field"),
    ("campaign_id", "00000000-0000-0000-0000-000000000000", "campaign_id", "unknown_campaign"),
    ("campaign_id", "no-such-campaign", "campaign_id", "unknown_campaign"),
    ("campaign_id", 7, "campaign_id", "invalid_type"),
    ("occurred_at", MISSING, "occurred_at", "missing_field"),
    ("occurred_at", "yesterday", "occurred_at", "invalid_value"),
    ("occurred_at", 1_700_000_000, "occurred_at", "invalid_type"),
    ("occurred_at", "2026-03-01T12:00:00", "occurred_at", "missing_offset"),
    ("occurred_at", future(120), "occurred_at", "occurred_in_future"),
    ("occurred_at", ago(400), "occurred_at", "too_old"),
    ("surprise", "extra", "surprise", "unknown_field"),
    ("surprise", "nul \u0000 inside", "surprise", "unknown_field"),
]

CONVERSION_CASES: list[tuple[str, Any, str | None, str]] = [
    ("event_id", MISSING, "event_id", "missing_field"),
    ("event_id", 5.5, "event_id", "invalid_type"),
    ("event_id", "", "event_id", "empty"),
    ("action_id", MISSING, "action_id", "missing_field"),
    ("action_id", 42, "action_id", "invalid_type"),
    ("action_id", "00000000-0000-0000-0000-000000000000", "action_id", "unknown_action"),
    ("action_id", "not-an-id", "action_id", "unknown_action"),
    ("member_id", MISSING, "member_id", "missing_member"),  # and no click_id
    ("member_id", None, "member_id", "missing_member"),
    ("member_id", 99, "member_id", "invalid_type"),
    ("member_id", "", "member_id", "empty"),
    ("click_id", 12, "click_id", "invalid_type"),
    ("click_id", "c\u0000", "click_id", "not_printable"),  # checked even beside a member_id
    ("occurred_at", MISSING, "occurred_at", "missing_field"),
    ("occurred_at", "03/01/2026", "occurred_at", "invalid_value"),
    ("occurred_at", "2026-03-01 12:00", "occurred_at", "invalid_value"),  # RFC 3339 needs T
    ("occurred_at", "2026-03-01T12:00:00", "occurred_at", "missing_offset"),
    ("occurred_at", future(180), "occurred_at", "occurred_in_future"),
    ("occurred_at", ago(90), "occurred_at", "too_old"),
    ("value", "10 USD", "value", "invalid_type"),
    ("value.amount_minor", MISSING, "value.amount_minor", "missing_field"),
    ("value.amount_minor", -1, "value.amount_minor", "negative_amount"),
    ("value.amount_minor", "100", "value.amount_minor", "invalid_type"),
    ("value.amount_minor", 1.5, "value.amount_minor", "invalid_type"),
    ("value.amount_minor", 10**16, "value.amount_minor", "amount_too_large"),
    ("value.currency", MISSING, "value.currency", "missing_field"),
    ("value.currency", "usd", "value.currency", "invalid_currency"),
    ("value.currency", "ZZZ", "value.currency", "unknown_currency"),
    ("value.currency", 840, "value.currency", "invalid_type"),
    ("value.tax", 1, "value.tax", "unknown_field"),
    ("surprise", True, "surprise", "unknown_field"),
]

NON_OBJECTS = [5, "a string", None, [], True]


# A click id stands for the member only when no member_id is given (then it must be known).
CLICK_ONLY_CASES: list[tuple[str, Any, str | None, str]] = [
    ("click_id", "never-clicked", "click_id", "unknown_click_id"),
    ("click_id", "", "click_id", "empty"),
    ("click_id", None, "member_id", "missing_member"),
]


def case_id(case: tuple[str, Any, str | None, str]) -> str:
    path, value, _, reason = case
    shown = "missing" if value is MISSING else type(value).__name__
    return f"{path}-{shown}-{reason}"


def send_batch(api: Api, kind: str, items: list[Any]) -> list[dict[str, Any]]:
    headers = ADMIN if kind == "touches" else api.key
    response = api.client.post(f"/v1/{kind}", json={kind: items}, headers=headers)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert len(results) == len(items)
    return results


def assert_rejected_alone(api: Api, kind: str, bad: Any, field: str | None, reason: str) -> None:
    """The bad item between two good ones: rejected naming field and reason; the good ones are
    recorded (a re-send finds them), and the bad one is a dead letter with its payload."""
    good = good_touch if kind == "touches" else good_conversion
    first, last = good(api), good(api)
    results = send_batch(api, kind, [first, bad, last])
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"], results
    assert (results[1]["field"], results[1]["reason"]) == (field, reason), results[1]
    assert results[1]["detail"]
    assert [r["event_id"] for r in (results[0], results[2])] == [first["event_id"],
                                                                 last["event_id"]]
    again = send_batch(api, kind, [first, last])
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    dead = api.container.ingestion.ledger.list_dead_letters(limit=1)[0]
    fact = {"touches": "touch", "conversions": "conversion"}[kind]
    assert (dead.kind, dead.field, dead.reason) == (fact, field, reason)
    assert dead.payload == without_nul(bad)  # U+0000 is kept as U+FFFD (PostgreSQL text)


@pytest.mark.parametrize("case", TOUCH_CASES, ids=case_id)
def test_a_bad_touch_field_is_rejected_alone_and_kept(
    api: Api, case: tuple[str, Any, str | None, str]
) -> None:
    path, value, field, reason = case
    assert_rejected_alone(api, "touches", with_field(good_touch(api), path, value), field, reason)


@pytest.mark.parametrize("case", CONVERSION_CASES, ids=case_id)
def test_a_bad_conversion_field_is_rejected_alone_and_kept(
    api: Api, case: tuple[str, Any, str | None, str]
) -> None:
    path, value, field, reason = case
    bad = with_field(good_conversion(api), path, value)
    assert_rejected_alone(api, "conversions", bad, field, reason)


@pytest.mark.parametrize("case", CLICK_ONLY_CASES, ids=case_id)
def test_a_bad_click_id_without_a_member_id_is_rejected_alone_and_kept(
    api: Api, case: tuple[str, Any, str | None, str]
) -> None:
    path, value, field, reason = case
    bad = with_field(with_field(good_conversion(api), "member_id", MISSING), path, value)
    assert_rejected_alone(api, "conversions", bad, field, reason)


def test_a_known_click_id_stands_for_the_member_who_clicked(api: Api) -> None:
    click = good_touch(api)
    assert send_batch(api, "touches", [click])[0]["status"] == "accepted"
    by_click = with_field(good_conversion(api), "member_id", MISSING) | {
        "click_id": click["event_id"]}
    assert send_batch(api, "conversions", [by_click])[0]["status"] == "accepted"
    by_member = by_click | {"member_id": click["member_id"]}
    assert send_batch(api, "conversions", [by_member])[0]["status"] == "duplicate"


@pytest.mark.parametrize("kind", ["touches", "conversions"])
@pytest.mark.parametrize("item", NON_OBJECTS, ids=lambda v: type(v).__name__)
def test_an_item_that_is_not_an_object_is_rejected_alone(api: Api, kind: str, item: Any) -> None:
    assert_rejected_alone(api, kind, item, None, "not_an_object")


def test_the_answer_to_a_rejected_item_keeps_its_event_id_when_it_has_one(api: Api) -> None:
    bad = with_field(good_touch(api), "kind", "view")
    (result,) = send_batch(api, "touches", [bad])
    assert result["event_id"] == bad["event_id"]
    (unnamed,) = send_batch(api, "touches", [with_field(bad, "event_id", 5)])
    assert unnamed["event_id"] is None


def test_an_empty_batch_answers_no_results(api: Api) -> None:
    assert send_batch(api, "touches", []) == []
    assert send_batch(api, "conversions", []) == []


@pytest.mark.parametrize("kind", ["touches", "conversions"])
def test_a_batch_over_1000_items_is_refused_whole_with_413(api: Api, kind: str) -> None:
    good = good_touch if kind == "touches" else good_conversion
    items = [good(api) for _ in range(1_001)]
    headers = ADMIN if kind == "touches" else api.key
    response = api.client.post(f"/v1/{kind}", json={kind: items}, headers=headers)
    assert response.status_code == 413
    body = response.json()
    assert (body["error"], body["field"]) == ("batch_too_large", kind)
    assert "1,000" in body["detail"] or "1000" in body["detail"]
    # Nothing of a refused batch was recorded: the first item is new when sent alone.
    assert send_batch(api, kind, items[:1])[0]["status"] == "accepted"


@pytest.mark.parametrize("kind", ["touches", "conversions"])
def test_exactly_1000_items_are_taken(api: Api, kind: str) -> None:
    good = good_touch if kind == "touches" else good_conversion
    results = send_batch(api, kind, [good(api) for _ in range(1_000)])
    assert {r["status"] for r in results} == {"accepted"}


@pytest.mark.parametrize("kind", ["touches", "conversions"])
@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"\xff\xfe", b'{"touches": [}'])
def test_a_body_that_is_not_json_is_a_400(api: Api, kind: str, body: bytes) -> None:
    headers = (ADMIN if kind == "touches" else api.key) | {"Content-Type": "application/json"}
    response = api.client.post(f"/v1/{kind}", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


@pytest.mark.parametrize("kind", ["touches", "conversions"])
@pytest.mark.parametrize("document", [
    {}, [], 5, "x", None, {"items": []}, {"touches": {}, "conversions": {}}, {"KEY": "x"}],
    ids=["empty-object", "list", "number", "string", "null", "other-key", "objects", "string"])
def test_a_body_of_the_wrong_shape_is_a_422_naming_the_list(
    api: Api, kind: str, document: Any
) -> None:
    if isinstance(document, dict) and "KEY" in document:
        document = {kind: "x"}
    headers = (ADMIN if kind == "touches" else api.key) | {"Content-Type": "application/json"}
    response = api.client.post(f"/v1/{kind}", content=json.dumps(document), headers=headers)
    assert response.status_code == 422
    body = response.json()
    assert (body["error"], body["field"]) == ("invalid_body", kind)
    assert body["detail"]


# --- commands ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """One bad request: where it goes, what it sends, and what the answer must name."""

    name: str
    method: str
    path: str  # with {tag}, {campaign}, {action} placeholders
    body: Any
    status: int
    field: str | None
    admin: bool = False


def campaign_body(**changes: Any) -> dict[str, Any]:
    return {"name": "C", "type": "text_ad", "status": "active"} | changes


def spend_body(**changes: Any) -> dict[str, Any]:
    return {"day": (NOW - timedelta(days=1)).date().isoformat(), "amount_minor": 100,
            "currency": "USD"} | changes


def action_body(**changes: Any) -> dict[str, Any]:
    return {"tag_id": "{tag}", "name": "A", "category": "lead"} | changes


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


COMMANDS = [
    # accounts (admin token)
    Command("account-no-name", "POST", "/v1/accounts", {}, 422, "name", admin=True),
    Command("account-name-type", "POST", "/v1/accounts", {"name": 5}, 422, "name", admin=True),
    Command("account-name-empty", "POST", "/v1/accounts", {"name": " "}, 422, "name", admin=True),
    Command("account-name-long", "POST", "/v1/accounts", {"name": "n" * 201}, 422, "name",
            admin=True),
    Command("account-extra", "POST", "/v1/accounts", {"name": "a", "plan": "pro"}, 422, "plan",
            admin=True),
    Command("account-not-object", "POST", "/v1/accounts", ["a"], 422, None, admin=True),
    # tags
    Command("tag-no-name", "POST", "/v1/tags", {}, 422, "name"),
    Command("tag-name-type", "POST", "/v1/tags", {"name": None}, 422, "name"),
    Command("tag-name-empty", "POST", "/v1/tags", {"name": ""}, 422, "name"),
    Command("tag-extra", "POST", "/v1/tags", {"name": "a", "status": "active"}, 422, "status"),
    # domains
    Command("domain-missing", "POST", "/v1/tags/{tag}/domains", {}, 422, "domain"),
    Command("domain-type", "POST", "/v1/tags/{tag}/domains", {"domain": 1}, 422, "domain"),
    Command("domain-url", "POST", "/v1/tags/{tag}/domains",
            {"domain": "https://shop.example.com/"}, 422, "domain"),
    Command("domain-space", "POST", "/v1/tags/{tag}/domains", {"domain": "shop example"}, 422,
            "domain"),
    Command("domain-empty", "POST", "/v1/tags/{tag}/domains", {"domain": ""}, 422, "domain"),
    # grants
    Command("grant-no-account", "POST", "/v1/tags/{tag}/grants", {"role": "viewer"}, 422,
            "account_id"),
    Command("grant-no-role", "POST", "/v1/tags/{tag}/grants", {"account_id": "{other}"}, 422,
            "role"),
    Command("grant-bad-role", "POST", "/v1/tags/{tag}/grants",
            {"account_id": "{other}", "role": "owner"}, 422, "role"),
    Command("grant-role-type", "POST", "/v1/tags/{tag}/grants",
            {"account_id": "{other}", "role": 3}, 422, "role"),
    Command("grant-account-type", "POST", "/v1/tags/{tag}/grants",
            {"account_id": 3, "role": "viewer"}, 422, "account_id"),
    Command("grant-unknown-account", "POST", "/v1/tags/{tag}/grants",
            {"account_id": str(uuid.UUID(int=1)), "role": "viewer"}, 422, "account_id"),
    Command("grant-owner", "POST", "/v1/tags/{tag}/grants",
            {"account_id": "{owner}", "role": "viewer"}, 409, "account_id"),
    # debug
    Command("debug-no-url", "POST", "/v1/tags/{tag}/debug", {}, 422, "url"),
    Command("debug-url-type", "POST", "/v1/tags/{tag}/debug", {"url": ["x"]}, 422, "url"),
    # campaigns
    Command("campaign-no-name", "POST", "/v1/campaigns", without(campaign_body(), "name"), 422,
            "name"),
    Command("campaign-empty-name", "POST", "/v1/campaigns", campaign_body(name=""), 422, "name"),
    Command("campaign-no-type", "POST", "/v1/campaigns", without(campaign_body(), "type"), 422,
            "type"),
    Command("campaign-bad-type", "POST", "/v1/campaigns", campaign_body(type="tv"), 422, "type"),
    Command("campaign-archived", "POST", "/v1/campaigns", campaign_body(status="archived"), 422,
            "status"),
    Command("campaign-status-type", "POST", "/v1/campaigns", campaign_body(status=True), 422,
            "status"),
    Command("campaign-extra", "POST", "/v1/campaigns", campaign_body(budget=5), 422, "budget"),
    Command("campaign-patch-status", "PATCH", "/v1/campaigns/{campaign}", {"status": "live"},
            422, "status"),
    Command("campaign-patch-name", "PATCH", "/v1/campaigns/{campaign}", {"name": ""}, 422,
            "name"),
    Command("campaign-patch-name-type", "PATCH", "/v1/campaigns/{campaign}", {"name": 1}, 422,
            "name"),
    Command("campaign-patch-type", "PATCH", "/v1/campaigns/{campaign}", {"type": "other"}, 422,
            "type"),
    # spend
    Command("spend-no-day", "POST", "/v1/campaigns/{campaign}/spend",
            without(spend_body(), "day"), 422, "day"),
    Command("spend-bad-day", "POST", "/v1/campaigns/{campaign}/spend",
            spend_body(day="2026-02-30"), 422, "day"),
    Command("spend-day-format", "POST", "/v1/campaigns/{campaign}/spend",
            spend_body(day="01/03/2026"), 422, "day"),
    Command("spend-day-type", "POST", "/v1/campaigns/{campaign}/spend",
            spend_body(day=20260301), 422, "day"),
    Command("spend-future-day", "POST", "/v1/campaigns/{campaign}/spend",
            spend_body(day="2999-01-01"), 422, "day"),
    Command("spend-no-amount", "POST", "/v1/campaigns/{campaign}/spend",
            without(spend_body(), "amount_minor"), 422, "amount_minor"),
    Command("spend-negative", "POST", "/v1/campaigns/{campaign}/spend",
            spend_body(amount_minor=-5), 422, "amount_minor"),
    Command("spend-amount-type", "POST", "/v1/campaigns/{campaign}/spend",
            spend_body(amount_minor="5"), 422, "amount_minor"),
    Command("spend-amount-float", "POST", "/v1/campaigns/{campaign}/spend",
            spend_body(amount_minor=5.5), 422, "amount_minor"),
    Command("spend-no-currency", "POST", "/v1/campaigns/{campaign}/spend",
            without(spend_body(), "currency"), 422, "currency"),
    Command("spend-currency-case", "POST", "/v1/campaigns/{campaign}/spend",
            spend_body(currency="usd"), 422, "currency"),
    Command("spend-currency-unknown", "POST", "/v1/campaigns/{campaign}/spend",
            spend_body(currency="ABC"), 422, "currency"),
    # conversion actions
    Command("action-no-tag", "POST", "/v1/conversion-actions", without(action_body(), "tag_id"),
            422, "tag_id"),
    Command("action-unknown-tag", "POST", "/v1/conversion-actions",
            action_body(tag_id=str(uuid.UUID(int=2))), 422, "tag_id"),
    Command("action-tag-type", "POST", "/v1/conversion-actions", action_body(tag_id=5), 422,
            "tag_id"),
    Command("action-no-name", "POST", "/v1/conversion-actions", without(action_body(), "name"),
            422, "name"),
    Command("action-empty-name", "POST", "/v1/conversion-actions", action_body(name="  "), 422,
            "name"),
    Command("action-no-category", "POST", "/v1/conversion-actions",
            without(action_body(), "category"), 422, "category"),
    Command("action-bad-category", "POST", "/v1/conversion-actions",
            action_body(category="shopping"), 422, "category"),
    Command("action-rules-type", "POST", "/v1/conversion-actions", action_body(rules="x"), 422,
            "rules"),
    Command("action-rule-match", "POST", "/v1/conversion-actions",
            action_body(rules=[{"match": "regex", "url": "https://a.example/"}]), 422,
            "rules[0].match"),
    Command("action-rule-no-url", "POST", "/v1/conversion-actions",
            action_body(rules=[{"match": "exact"}]), 422, "rules[0].url"),
    Command("action-rule-empty-url", "POST", "/v1/conversion-actions",
            action_body(rules=[{"match": "contains", "url": "/ok"},
                               {"match": "contains", "url": ""}]), 422, "rules[1].url"),
    Command("action-rule-relative", "POST", "/v1/conversion-actions",
            action_body(rules=[{"match": "exact", "url": "/thanks"}]), 422, "rules[0].url"),
    Command("action-value-mode", "POST", "/v1/conversion-actions",
            action_body(value_mode="always"), 422, "value_mode"),
    Command("action-fixed-without-value", "POST", "/v1/conversion-actions",
            action_body(value_mode="fixed"), 422, "value"),
    Command("action-value-type", "POST", "/v1/conversion-actions", action_body(value=5), 422,
            "value"),
    Command("action-value-currency", "POST", "/v1/conversion-actions",
            action_body(value={"amount_minor": 5, "currency": "eur"}), 422, "value.currency"),
    Command("action-value-no-currency", "POST", "/v1/conversion-actions",
            action_body(value={"amount_minor": 5}), 422, "value.currency"),
    Command("action-value-negative", "POST", "/v1/conversion-actions",
            action_body(value={"amount_minor": -5, "currency": "EUR"}), 422,
            "value.amount_minor"),
    Command("action-click-window", "POST", "/v1/conversion-actions",
            action_body(click_window_days=14), 422, "click_window_days"),
    Command("action-click-window-type", "POST", "/v1/conversion-actions",
            action_body(click_window_days="30"), 422, "click_window_days"),
    Command("action-view-window-365", "POST", "/v1/conversion-actions",
            action_body(category="download", view_window_days=365), 422, "view_window_days"),
    Command("action-click-window-365", "POST", "/v1/conversion-actions",
            action_body(category="contact", click_window_days=365), 422, "click_window_days"),
    Command("action-counting", "POST", "/v1/conversion-actions", action_body(counting="all"),
            422, "counting"),
    Command("action-attribution", "POST", "/v1/conversion-actions",
            action_body(attribution="first_touch"), 422, "attribution"),
    Command("action-campaigns-type", "POST", "/v1/conversion-actions",
            action_body(campaign_ids="{campaign}"), 422, "campaign_ids"),
    Command("action-unknown-campaign", "POST", "/v1/conversion-actions",
            action_body(campaign_ids=["{campaign}", str(uuid.UUID(int=3))]), 422,
            "campaign_ids[1]"),
    Command("action-strangers-campaign", "POST", "/v1/conversion-actions",
            action_body(campaign_ids=["{strangers}"]), 422, "campaign_ids[0]"),
    Command("action-enabled-type", "POST", "/v1/conversion-actions", action_body(enabled="yes"),
            422, "enabled"),
    Command("action-extra", "POST", "/v1/conversion-actions", action_body(priority=1), 422,
            "priority"),
    Command("action-patch-tag", "PATCH", "/v1/conversion-actions/{action}", {"tag_id": "{tag}"},
            422, "tag_id"),
    Command("action-patch-window", "PATCH", "/v1/conversion-actions/{action}",
            {"category": "download", "click_window_days": 365}, 422, "click_window_days"),
    Command("action-patch-category", "PATCH", "/v1/conversion-actions/{action}",
            {"category": 5}, 422, "category"),
    Command("action-patch-campaign", "PATCH", "/v1/conversion-actions/{action}",
            {"campaign_ids": ["nope"]}, 422, "campaign_ids[0]"),
    Command("action-patch-rule", "PATCH", "/v1/conversion-actions/{action}",
            {"rules": [{"match": "exact", "url": "https://a.example/", "x": 1}]}, 422,
            "rules[0].x"),
    Command("action-patch-value", "PATCH", "/v1/conversion-actions/{action}",
            {"value": {"amount_minor": "1", "currency": "USD"}}, 422, "value.amount_minor"),
]


def fill(value: Any, api: Api) -> Any:
    """Replace the {placeholders} in paths and bodies with the module's ids."""
    if isinstance(value, str):
        owner = api.container.management.authenticate(api.key["Authorization"].split()[1])
        return value.format(tag=api.tag, campaign=api.campaign, action=api.action,
                            other=api.other_account, strangers=api.strangers_campaign,
                            owner=owner.account_id)
    if isinstance(value, list):
        return [fill(v, api) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, api) for k, v in value.items()}
    return value


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_a_bad_command_is_refused_naming_the_field(api: Api, command: Command) -> None:
    response = api.client.request(command.method, fill(command.path, api),
                                  json=fill(command.body, api),
                                  headers=ADMIN if command.admin else api.key)
    assert response.status_code == command.status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "field"}
    assert body["field"] == command.field, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]


COMMAND_PATHS = [
    ("POST", "/v1/accounts", True), ("POST", "/v1/tags", False),
    ("POST", "/v1/tags/{tag}/domains", False), ("POST", "/v1/tags/{tag}/grants", False),
    ("POST", "/v1/tags/{tag}/debug", False), ("POST", "/v1/campaigns", False),
    ("PATCH", "/v1/campaigns/{campaign}", False), ("POST", "/v1/campaigns/{campaign}/spend", False),
    ("POST", "/v1/conversion-actions", False), ("PATCH", "/v1/conversion-actions/{action}", False),
]


@pytest.mark.parametrize(("method", "path", "admin"), COMMAND_PATHS,
                         ids=[f"{m} {p}" for m, p, _ in COMMAND_PATHS])
def test_a_command_body_that_is_not_json_is_a_400(
    api: Api, method: str, path: str, admin: bool
) -> None:
    headers = (ADMIN if admin else api.key) | {"Content-Type": "application/json"}
    response = api.client.request(method, fill(path, api), content=b'{"name": ', headers=headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "field"}
    assert body["error"] == "invalid_json"


def test_nothing_was_changed_by_the_bad_commands(api: Api) -> None:
    # Runs after the table above (same module): no bad command left a trace.
    tag = api.client.get(f"/v1/tags/{api.tag}", headers=api.key).json()
    assert tag["domains"] == []
    assert api.client.get(f"/v1/tags/{api.tag}/grants", headers=api.key).json()["items"] == []
    actions = api.client.get("/v1/conversion-actions", headers=api.key).json()["items"]
    assert [a["name"] for a in actions] == ["Buy"]
    campaign = api.client.get(f"/v1/campaigns/{api.campaign}", headers=api.key).json()
    assert (campaign["name"], campaign["status"], campaign["spend"]) == ("C", "active", [])


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/conversion-actions?tag_id=a%00b", "tag_id"),
    ("/v1/tags/abc%00def", None),
    ("/v1/audit?aggregate_id=%00", "aggregate_id"),
])
def test_a_nul_character_in_the_path_or_query_is_a_400_naming_the_parameter(
    api: Api, path: str, field: str | None
) -> None:
    response = api.client.get(path, headers=api.key)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_parameter", "field": field,
                               "detail": response.json()["detail"]}


@pytest.mark.parametrize("member_id", ["%0A", "m%09x", "x" * 201])
def test_consent_for_a_member_id_that_is_no_id_is_a_422(api: Api, member_id: str) -> None:
    for change in ("opt-out", "opt-in"):
        response = api.client.post(f"/v1/members/{member_id}/{change}", headers=ADMIN)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "member_id"
