"""Bad commands over HTTP, end to end on PostgreSQL: every field of every command body.

The answer is a 4xx with docs/api.md's error body naming the field, and nothing changes. One app and
one schema serve the whole module (each case uses its own ids).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest


from tests.adapters.bad_input_support import ADMIN, NOW, RECENT, Api, api, fresh  # noqa: F401  (api is a fixture)


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
            action_body(attribution="data_driven"), 422, "attribution"),
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

