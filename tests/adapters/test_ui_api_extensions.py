"""What the web UI added to the API (ADR 0036, 0037), on PostgreSQL through the HTTP app:
draft rules in the tag debugger, the choices of every setting, report rows and CSV that name
their campaigns and actions, spend in totals and per day, and conversions of one tag."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

NOW = datetime.now(UTC).replace(microsecond=0)


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Advertiser:
    """An account with a tag on shop.example, a campaign with spend and a purchase action."""

    def __init__(self, client: TestClient[Litestar], admin: dict[str, str]) -> None:
        self.client, self.admin = client, admin
        key = self.call("POST", "/v1/accounts", {"name": "shop"}, admin)["api_key"]
        self.auth = {"Authorization": f"Bearer {key}"}
        self.tag = self.call("POST", "/v1/tags", {"name": "shop"})["tag_id"]
        self.call("POST", f"/v1/tags/{self.tag}/domains", {"domain": "shop.example"})
        self.campaign = self.call("POST", "/v1/campaigns", {
            "name": "Spring sale", "type": "text_ad"})["campaign_id"]
        for days, amount in ((0, 3000), (1, 1000)):
            self.call("POST", f"/v1/campaigns/{self.campaign}/spend", {
                "day": (NOW - timedelta(days=days)).date().isoformat(), "amount_minor": amount,
                "currency": "USD"})
        self.action = self.call("POST", "/v1/conversion-actions", {
            "tag_id": self.tag, "name": "Purchase", "category": "purchase",
            "campaign_ids": [self.campaign],
            "rules": [{"match": "contains", "url": "/thank-you"}]})["action_id"]

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None, **params: Any) -> Any:
        response = self.client.request(method, path, json=body, params=params,
                                       headers=headers or self.auth)
        assert response.status_code in (200, 201), response.text
        return response.json() if "json" in response.headers["content-type"] else response.text

    def buys_after_a_click(self, member: str, value_minor: int) -> None:
        touched = datetime.now(UTC)
        self.call("POST", "/v1/touches", {"touches": [{
            "event_id": f"click-{member}", "member_id": member, "kind": "click",
            "campaign_id": self.campaign, "occurred_at": at(touched)}]}, self.admin)
        self.call("POST", "/v1/conversions", {"conversions": [{
            "event_id": f"order-{member}", "action_id": self.action, "member_id": member,
            "occurred_at": at(touched + timedelta(seconds=1)),
            "value": {"amount_minor": value_minor, "currency": "USD"}}]})


@pytest.fixture
def shop(client: TestClient[Litestar], admin_headers: dict[str, str]) -> Advertiser:
    return Advertiser(client, admin_headers)


def test_the_debugger_judges_draft_rules_against_the_url_without_saving_them(
        shop: Advertiser) -> None:
    draft = [{"match": "starts_with", "url": "https://shop.example/checkout/done"},
             {"match": "contains", "url": "/done"}]
    answer = shop.call("POST", f"/v1/tags/{shop.tag}/debug",
                       {"url": "https://shop.example/checkout/done?o=1", "rules": draft})
    assert answer["draft"] == {"fires": True, "reason": "rule starts_with "
                               "'https://shop.example/checkout/done' matches",
                               "rules": [{**draft[0], "matches": True},
                                         {**draft[1], "matches": True}]}
    assert [a["fires"] for a in answer["actions"]] == [False]  # the saved action: /thank-you
    elsewhere = shop.call("POST", f"/v1/tags/{shop.tag}/debug",
                          {"url": "https://other.example/done", "rules": draft})
    assert elsewhere["draft"]["fires"] is False
    assert elsewhere["draft"]["reason"] == "the URL's host is not a registered domain"
    plain = shop.call("POST", f"/v1/tags/{shop.tag}/debug", {"url": "https://shop.example/"})
    assert "draft" not in plain  # answered as before when no rules are sent
    action = shop.call("GET", f"/v1/conversion-actions/{shop.action}")
    assert action["rules"] == [{"match": "contains", "url": "/thank-you"}]


def test_choices_offer_a_365_day_window_only_to_the_long_cycle_categories(
        shop: Advertiser) -> None:
    choices = shop.call("GET", "/v1/choices")
    windows = {c["category"]: c["window_days"] for c in choices["categories"]}
    assert windows["purchase"] == [1, 7, 30, 90, 365]
    assert windows["sign_up"] == [1, 7, 30, 90]
    assert {c["category"]: c["default_counting"] for c in choices["categories"]}["lead"] == "one"
    assert "last_touch_each_campaign" in choices["attribution_models"]
    assert choices["report_group_by"] == ["campaign", "action", "day", "kind", "category"]


def test_report_rows_and_csv_name_their_campaigns_and_actions(
        shop: Advertiser, catch_up: Callable[[], int]) -> None:
    shop.buys_after_a_click("m1", 4999)
    catch_up()
    [row] = shop.call("GET", "/v1/reports/conversions", group_by="campaign,action")["rows"]
    assert (row["campaign_name"], row["action_name"], row["conversions"]) == \
        ("Spring sale", "Purchase", 1)
    [by_day] = [r for r in shop.call("GET", "/v1/reports/conversions", group_by="day")["rows"]
                if r["conversions"]]
    assert "campaign_name" not in by_day and "action_name" not in by_day
    response = shop.client.get("/v1/reports/conversions", params={"group_by": "campaign"},
                               headers=shop.auth | {"Accept": "text/csv"})
    [header, line] = list(csv.reader(io.StringIO(response.text)))
    assert header[0] == "campaign_id" and header[-1] == "campaign_name"
    assert line[-1] == "Spring sale"


def test_totals_and_days_carry_the_accounts_spend_cost_per_conversion_and_roas(
        shop: Advertiser, catch_up: Callable[[], int]) -> None:
    shop.buys_after_a_click("m1", 4999)
    shop.buys_after_a_click("m2", 1001)
    catch_up()
    [total] = shop.call("GET", "/v1/reports/conversions")["rows"]
    assert (total["conversions"], total["spend_minor"], total["cost_per_conversion_minor"],
            total["roas"]) == (2, 4000, 2000, 1.5)
    days = {r["day"]: (r["conversions"], r["spend_minor"])
            for r in shop.call("GET", "/v1/reports/conversions", group_by="day")["rows"]}
    yesterday = (NOW - timedelta(days=1)).date().isoformat()
    assert days[yesterday] == (0, 1000)  # a day with spend and no conversion still has a row
    assert sum(spend for _, spend in days.values()) == 4000
    by_kind = shop.call("GET", "/v1/reports/conversions", group_by="kind")["rows"]
    assert all(r["spend_minor"] is None for r in by_kind)  # finer than campaign and day


def test_conversions_can_be_narrowed_to_one_visible_tag(
        shop: Advertiser, catch_up: Callable[[], int]) -> None:
    shop.buys_after_a_click("m1", 4999)
    catch_up()
    other = shop.call("POST", "/v1/tags", {"name": "blog"})["tag_id"]
    assert len(shop.call("GET", "/v1/conversions", tag_id=shop.tag)["items"]) == 1
    assert shop.call("GET", "/v1/conversions", tag_id=other)["items"] == []
    assert shop.call("GET", "/v1/conversions", tag_id="no-such-tag")["items"] == []
