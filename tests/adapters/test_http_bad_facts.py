"""Bad facts over HTTP, end to end on PostgreSQL: every field of every fact (docs/api.md: batches).

A bad item is rejected alone, naming `field` and `reason`; the valid items of the same batch are
recorded (re-sent, they are duplicates) and the bad item is kept in the dead-letter table. One
app and one schema serve the whole module (each case uses its own ids), so the many cases stay
fast.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from application.fact_ledger import without_nul
from tests.adapters.bad_input_support import ADMIN, NOW, RECENT, Api, api, fresh  # noqa: F401  (api is a fixture)


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
    # Valid RFC 3339 texts outside years 1-9999 once in UTC: once a 500 that lost the batch.
    ("occurred_at", "0001-01-01T00:00:00+01:00", "occurred_at", "out_of_range"),
    ("occurred_at", "9999-12-31T23:59:59-01:00", "occurred_at", "out_of_range"),
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
    ("occurred_at", "0001-01-01T00:00:00+01:00", "occurred_at", "out_of_range"),
    ("occurred_at", "9999-12-31T23:59:59-01:00", "occurred_at", "out_of_range"),
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


