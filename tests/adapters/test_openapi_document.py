"""`/schema/openapi.json` describes every endpoint of docs/api.md's sections Accounts, Insight tags,
Campaigns, Conversion actions and Facts: its request body, its answer, and its errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.bootstrap import build_app, build_container
from adapters.settings import Settings
from domain.values import CATEGORIES

Document = dict[str, Any]


@pytest.fixture(scope="module")
def document() -> Iterator[Document]:
    """The served document (in-memory stores suffice: it does not depend on data)."""
    container = build_container(Settings(), "admin_document_token")
    try:
        with TestClient(build_app(container)) as client:
            response = client.get("/schema/openapi.json")
            assert response.status_code == 200
            yield response.json()
    finally:
        container.close()


def resolve(document: Document, node: Any) -> Any:
    """The node with every `$ref` replaced by what it names (recursively)."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            return resolve(document, document["components"]["schemas"][name])
        return {k: resolve(document, v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(document, v) for v in node]
    return node


def object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The object variant of a resolved schema (a nullable one is `anyOf: [object, null]`)."""
    for variant in schema.get("anyOf", schema.get("oneOf", [])):
        if variant.get("type") == "object" or "properties" in variant:
            return object_schema(variant)
    return schema


def enum_of(schema: dict[str, Any]) -> set[Any]:
    """The allowed values of a resolved (possibly nullable) enum."""
    values = set(schema.get("enum", []))
    for variant in schema.get("anyOf", schema.get("oneOf", [])):
        values |= enum_of(variant)
    return values - {None}


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of docs/api.md: its body's fields (required ones marked) and its answer."""

    method: str
    path: str
    status: int
    body: tuple[str, ...] = ()  # field names; a trailing "!" marks a required one
    answer: tuple[str, ...] = ()  # fields of the answer (for text/html: the media type)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


TAG = ("tag_id", "name", "owner_account_id", "domains", "status")
CAMPAIGN = ("campaign_id", "name", "type", "status")
ACTION = ("action_id", "tag_id", "name", "category", "rules", "value_mode", "value",
          "click_window_days", "view_window_days", "counting", "attribution", "campaign_ids",
          "enabled")
ACTION_SETTINGS = ("rules", "value_mode", "value", "click_window_days", "view_window_days",
                   "counting", "attribution", "campaign_ids", "enabled")
BATCH = ("results",)

ENDPOINTS = [
    # Accounts
    Endpoint("post", "/v1/accounts", 201, ("name!",), ("account_id", "name", "api_key")),
    # Insight tags
    Endpoint("post", "/v1/tags", 201, ("name!",), TAG),
    Endpoint("get", "/v1/tags", 200, (), ("items",)),
    Endpoint("get", "/v1/tags/{tag_id}", 200, (), TAG),
    Endpoint("post", "/v1/tags/{tag_id}/domains", 201, ("domain!",), TAG),
    Endpoint("delete", "/v1/tags/{tag_id}/domains/{domain}", 200, (), TAG),
    Endpoint("post", "/v1/tags/{tag_id}/grants", 201, ("account_id!", "role!"),
             ("account_id", "role")),
    Endpoint("delete", "/v1/tags/{tag_id}/grants/{account_id}", 200, (), ("account_id",)),
    Endpoint("get", "/v1/tags/{tag_id}/grants", 200, (), ("items",)),
    Endpoint("get", "/v1/tags/{tag_id}/snippet", 200, (), ("text/html",)),
    # Campaigns
    Endpoint("post", "/v1/campaigns", 201, ("name!", "type!", "status"), CAMPAIGN),
    Endpoint("patch", "/v1/campaigns/{campaign_id}", 200, ("name", "status"), CAMPAIGN),
    Endpoint("get", "/v1/campaigns", 200, (), ("items",)),
    Endpoint("get", "/v1/campaigns/{campaign_id}", 200, (), CAMPAIGN),
    Endpoint("post", "/v1/campaigns/{campaign_id}/spend", 201,
             ("day!", "amount_minor!", "currency!"), ("day", "amount_minor", "currency")),
    # Conversion actions
    Endpoint("post", "/v1/conversion-actions", 201,
             ("tag_id!", "name!", "category!", *ACTION_SETTINGS), ACTION),
    Endpoint("patch", "/v1/conversion-actions/{action_id}", 200,
             ("name", "category", *ACTION_SETTINGS), ACTION),
    Endpoint("post", "/v1/conversion-actions/{action_id}/archive", 200, (), ACTION),
    Endpoint("get", "/v1/conversion-actions", 200, (), ("items",)),
    Endpoint("get", "/v1/conversion-actions/{action_id}", 200, (), ACTION),
    Endpoint("post", "/v1/tags/{tag_id}/debug", 200, ("url!",), ("url", "actions")),
    # Facts
    Endpoint("post", "/v1/touches", 200, ("touches!",), BATCH),
    Endpoint("post", "/v1/conversions", 200, ("conversions!",), BATCH),
    Endpoint("post", "/v1/members/{member_id}/opt-out", 200, (), ("member_id", "opted_out")),
    Endpoint("post", "/v1/members/{member_id}/opt-in", 200, (), ("member_id", "opted_out")),
    # Accounts: keys and status (appended, because some tests below pick endpoints by index)
    Endpoint("post", "/v1/accounts/{account_id}/keys", 201, (),
             ("key_id", "api_key", "created_at")),
    Endpoint("get", "/v1/accounts/{account_id}/keys", 200, (), ("items",)),
    Endpoint("delete", "/v1/accounts/{account_id}/keys/{key_id}", 200, (), ("key_id",)),
    Endpoint("post", "/v1/accounts/{account_id}/disable", 200, (),
             ("account_id", "name", "status")),
    Endpoint("post", "/v1/accounts/{account_id}/enable", 200, (),
             ("account_id", "name", "status")),
    # Member identity and click URLs (ADR 0030)
    Endpoint("post", "/v1/members/{member_id}/token", 201, (),
             ("token", "sync_url", "expires_at")),
    Endpoint("post", "/v1/clicks", 201, ("member_id!", "campaign_id!", "landing_url!", "event_id"),
             ("click_id", "click_url", "expires_at")),
]


def operation_of(document: Document, endpoint: Endpoint) -> dict[str, Any]:
    assert endpoint.path in document["paths"], f"{endpoint} is not documented"
    operations = document["paths"][endpoint.path]
    assert endpoint.method in operations, f"{endpoint} is not documented"
    return resolve(document, operations[endpoint.method])  # type: ignore[no-any-return]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_every_endpoint_is_documented_with_its_body_and_answer(
    document: Document, endpoint: Endpoint
) -> None:
    operation = operation_of(document, endpoint)
    assert operation.get("summary"), f"{endpoint} has no summary"
    if endpoint.body:
        content = operation["requestBody"]["content"]["application/json"]["schema"]
        body = object_schema(content)
        names = {f.rstrip("!") for f in endpoint.body}
        assert names <= set(body["properties"]), names - set(body["properties"])
        required = {f.rstrip("!") for f in endpoint.body if f.endswith("!")}
        assert set(body.get("required", [])) == required
    else:
        assert "requestBody" not in operation
    answer = operation["responses"][str(endpoint.status)]
    if endpoint.answer == ("text/html",):
        assert set(answer["content"]) == {"text/html"}
        return
    schema = object_schema(answer["content"]["application/json"]["schema"])
    assert set(endpoint.answer) <= set(schema["properties"]), (
        set(endpoint.answer) - set(schema["properties"]))


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_every_endpoint_documents_its_errors_in_the_api_error_format(
    document: Document, endpoint: Endpoint
) -> None:
    responses = operation_of(document, endpoint)["responses"]
    expected = {"401", "403"}
    if "{" in endpoint.path:
        expected.add("404")
    if endpoint.body:
        expected |= {"400", "422"}
    if endpoint.path in ("/v1/touches", "/v1/conversions"):
        expected.add("413")
    assert expected <= set(responses), expected - set(responses)
    for status in expected:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == {"error", "detail", "field"}
        assert set(schema["required"]) == {"error", "detail"}


def test_every_call_but_health_and_metrics_needs_a_bearer_credential(document: Document) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert {"bearer": []} in document["security"]


def test_action_settings_are_documented_with_their_allowed_values(document: Document) -> None:
    post = operation_of(document, ENDPOINTS[15])
    body = object_schema(post["requestBody"]["content"]["application/json"]["schema"])
    props = body["properties"]
    assert enum_of(props["category"]) == set(CATEGORIES)
    assert enum_of(props["click_window_days"]) == {1, 7, 30, 90, 365}
    assert enum_of(props["view_window_days"]) == {1, 7, 30, 90, 365}
    assert enum_of(props["counting"]) == {"each", "one"}
    assert enum_of(props["value_mode"]) == {"dynamic", "fixed", "none"}
    assert enum_of(props["attribution"]) == {"last_touch_each_campaign",
                                             "last_touch_last_campaign", "first_touch",
                                             "linear", "time_decay", "position_based"}
    rule = next(v for v in props["rules"].get("oneOf", [props["rules"]])
                if v.get("type") == "array")["items"]
    assert enum_of(rule["properties"]["match"]) == {"exact", "starts_with", "contains"}
    assert set(object_schema(props["value"])["properties"]) == {"amount_minor", "currency"}


def test_vocabularies_of_campaigns_grants_and_touches_are_documented(document: Document) -> None:
    def body(method: str, path: str) -> dict[str, Any]:
        operation = operation_of(document, Endpoint(method, path, 0))
        return object_schema(operation["requestBody"]["content"]["application/json"]["schema"])

    campaign = body("post", "/v1/campaigns")["properties"]
    assert enum_of(campaign["type"]) == {"sponsored_content", "text_ad", "message_ad",
                                         "video_ad", "other"}
    assert enum_of(campaign["status"]) == {"active", "paused"}
    assert enum_of(body("post", "/v1/tags/{tag_id}/grants")["properties"]["role"]) == {
        "viewer", "editor", "admin"}
    touch = body("post", "/v1/touches")["properties"]["touches"]["items"]
    assert set(touch["required"]) == {"event_id", "member_id", "kind", "campaign_id",
                                      "occurred_at"}
    assert enum_of(touch["properties"]["kind"]) == {"impression", "click"}
    assert touch["properties"]["occurred_at"] == {"type": "string", "format": "date-time"}
    conversion = body("post", "/v1/conversions")["properties"]["conversions"]["items"]
    assert set(conversion["required"]) == {"event_id", "action_id", "occurred_at"}
    assert {"member_id", "click_id", "value"} <= set(conversion["properties"])
    assert conversion["properties"]["occurred_at"]["format"] == "date-time"


def test_batch_answers_document_a_status_and_reason_per_item(document: Document) -> None:
    answer = operation_of(document, ENDPOINTS[21])["responses"]["200"]
    results = answer["content"]["application/json"]["schema"]["properties"]["results"]
    item = results["items"]
    assert {"event_id", "status", "reason", "field"} <= set(item["properties"])
    assert enum_of(item["properties"]["status"]) == {"accepted", "duplicate", "rejected"}


def test_the_action_list_takes_a_tag_id_filter(document: Document) -> None:
    operation = operation_of(document, Endpoint("get", "/v1/conversion-actions", 200))
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["tag_id"]["in"] == "query"
    assert not parameters["tag_id"].get("required", False)
