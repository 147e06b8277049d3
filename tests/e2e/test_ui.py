"""Issue 12: the web UI in a real browser, against `convtrack serve` on PostgreSQL and NATS.

An advertiser signs in with its key, sets tracking up through the pages (a tag, its domain, a
campaign with spend, an action with a URL rule, tried in the live rule tester), the ad platform
and the advertiser's server send facts through the API, and the reports' chart and table change;
a conversion opens its explanation. Every page is then checked at 1280x800 and at phone width:
no console error, no critical or serious axe-core violation, nothing wider than the screen, and
a screenshot in test-artifacts/ui/. One Chromium for the module, a fresh context per test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.browser_site import wait_for
from tests.e2e.ui_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    ConsoleErrors,
    UiServer,
    nav,
    overflows_sideways,
    rfc3339,
    screenshot,
    serious_violations,
    settle,
    visit,
)

pytestmark = [pytest.mark.slow]  # browser tests, as tests/e2e/test_browser_collection.py


@pytest.fixture(scope="module")
def server(database_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[UiServer]:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    service = UiServer(database_url, nats_url, tmp_path_factory.mktemp("ui") / "data")
    try:
        yield service.start()
    finally:
        service.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: UiServer) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, base_url=server.url,
                                  permissions=["clipboard-read", "clipboard-write"])
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass(frozen=True)
class Shop:
    """An advertiser set up through the API, with attributed conversions to read."""

    key: str
    tag: str
    campaign: str
    action: str


@pytest.fixture(scope="module")
def shop(server: UiServer) -> Shop:
    key = server.new_account("Shop")
    tag = server.call("POST", "/v1/tags", key, json={"name": "shop site"}, expect=201)["tag_id"]
    server.call("POST", f"/v1/tags/{tag}/domains", key, json={"domain": "shop.example"}, expect=201)
    campaign = server.call("POST", "/v1/campaigns", key, expect=201, json={
        "name": "Autumn sale", "type": "sponsored_content"})["campaign_id"]
    for days, amount in ((0, 9000), (1, 7000)):
        day = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
        server.call("POST", f"/v1/campaigns/{campaign}/spend", key, expect=201,
                    json={"day": day, "amount_minor": amount, "currency": "USD"})
    action = server.call("POST", "/v1/conversion-actions", key, expect=201, json={
        "tag_id": tag, "name": "Checkout", "category": "purchase", "campaign_ids": [campaign],
        "rules": [{"match": "contains", "url": "/order-complete"}]})["action_id"]
    send_facts(server, key, campaign, action, "shop")
    return Shop(key, tag, campaign, action)


def send_facts(server: UiServer, key: str, campaign: str, action: str, prefix: str) -> None:
    """A click and an impression of two members, then a purchase by each.

    The touches are stamped now, the purchases a second later: a touch counts only once its
    campaign exists and is active, and the campaign was made moments ago.
    """
    touched = datetime.now(UTC)
    converted = rfc3339(touched + timedelta(seconds=1))
    touches = [{"event_id": f"{prefix}-click", "member_id": f"{prefix}-m1", "kind": "click",
                "campaign_id": campaign, "occurred_at": rfc3339(touched)},
               {"event_id": f"{prefix}-view", "member_id": f"{prefix}-m2", "kind": "impression",
                "campaign_id": campaign, "occurred_at": rfc3339(touched)}]
    answer = server.call("POST", "/v1/touches", json={"touches": touches})
    assert {r["status"] for r in answer["results"]} == {"accepted"}, answer
    conversions = [{"event_id": f"{prefix}-order-1", "action_id": action,
                    "member_id": f"{prefix}-m1", "occurred_at": converted,
                    "value": {"amount_minor": 4999, "currency": "USD"}},
                   {"event_id": f"{prefix}-order-2", "action_id": action,
                    "member_id": f"{prefix}-m2", "occurred_at": converted,
                    "value": {"amount_minor": 2500, "currency": "USD"}}]
    answer = server.call("POST", "/v1/conversions", key, json={"conversions": conversions})
    assert {r["status"] for r in answer["results"]} == {"accepted"}, answer
    server.wait_for_read_side(key)


def sign_in(page: Page, key: str) -> None:
    page.goto("/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Reports")).to_be_visible()


def chart_sums(page: Page) -> list[int]:
    """The post-click, post-view and all-conversions totals the chart draws (once drawn)."""
    return list(wait_for(lambda: page.evaluate("""() => {
        const chart = Chart.getChart(document.querySelector('canvas'));
        return chart && chart.data.datasets.map(d => d.data.reduce((a, b) => a + b, 0)); }"""),
        10, "the chart to be drawn"))


def test_a_wrong_key_is_refused_beside_its_field_and_the_right_one_opens_the_reports(
        page: Page, server: UiServer) -> None:
    console = ConsoleErrors(page)
    key = server.new_account("Keyboard user")
    page.goto("/")
    expect(page.locator("#page-title")).to_be_focused()  # a new view starts at its heading
    page.keyboard.press("Tab")  # and the key is next: no mouse needed
    assert page.evaluate("document.activeElement.id") == "signin-api_key"
    page.keyboard.type("ct_not_a_key")
    page.keyboard.press("Enter")
    field = page.get_by_label("API key")
    expect(page.locator("#signin-api_key-error")).to_contain_text("unknown API key")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    assert all("401" in e for e in console.take())  # the refused key's own answer, nothing else
    field.fill(key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Reports")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('convtrack.api_key')") == key
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1, name="Sign in to convtrack")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('convtrack.api_key')") is None
    assert console.take() == []


def test_an_api_error_is_shown_next_to_the_field_it_names(page: Page, server: UiServer) -> None:
    sign_in(page, server.new_account("Typo"))
    page.goto("/#/tags")
    page.get_by_label("Tag name").fill("typo site")
    page.get_by_role("button", name="Create tag").click()
    expect(page.get_by_role("heading", level=1, name="Tag: typo site")).to_be_visible()
    page.get_by_label("Domain", exact=True).fill("not a domain")
    page.get_by_role("button", name="Add domain").click()
    expect(page.locator("#domain-domain-error")).to_contain_text("not a valid host name")
    expect(page.get_by_label("Domain", exact=True)).to_be_focused()
    page.goto("/#/actions/new")
    page.get_by_label("Name", exact=True).fill("Empty rule")
    page.get_by_role("button", name="Create action").click()  # rule 1 left empty
    rule = page.get_by_label("Rule 1: URL or part of one")
    expect(page.locator("#action-rules-0--url-error")).to_contain_text("a rule needs a URL")
    expect(rule).to_be_focused()


def test_an_advertiser_sets_up_tracking_and_sees_its_conversions_in_the_reports(
        page: Page, server: UiServer) -> None:
    console = ConsoleErrors(page)
    key = server.new_account("Acme")
    sign_in(page, key)
    # A tag, its domain and its snippet.
    nav(page, "Tags")
    expect(page.get_by_text("No tags yet.")).to_be_visible()
    page.get_by_label("Tag name").fill("Acme shop")
    page.get_by_role("button", name="Create tag").click()
    expect(page.get_by_role("heading", level=1, name="Tag: Acme shop")).to_be_visible()
    page.get_by_label("Domain", exact=True).fill("acme.example")
    page.get_by_role("button", name="Add domain").click()
    expect(page.locator(".chip", has_text="acme.example")).to_be_visible()
    expect(page.get_by_label("Snippet HTML")).to_have_value(re.compile(r"/insight\.js"))
    page.get_by_role("button", name="Copy snippet").click()
    expect(page.get_by_text(re.compile("Copied|Selected"))).to_be_visible()
    tag_url = page.url
    # A campaign with today's spend.
    nav(page, "Campaigns")
    page.get_by_label("Campaign name").fill("Spring sale")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("heading", level=1, name="Campaign: Spring sale")).to_be_visible()
    page.get_by_label("Amount").fill("120.00")
    page.get_by_role("button", name="Record spend").click()
    expect(page.get_by_role("region", name="Spend by day")).to_contain_text("$120.00")
    # An action with a URL rule, tried live before it is saved; windows follow the category.
    nav(page, "Conversion actions")
    page.get_by_role("link", name="Create an action").click()
    page.get_by_label("Name", exact=True).fill("Purchase")
    page.get_by_label("Category").select_option("sign_up")
    assert "365" not in page.get_by_label("Click window").evaluate(
        "s => [...s.options].map(o => o.value).join(',')")
    page.get_by_label("Category").select_option("purchase")
    page.get_by_label("Click window").select_option("365")
    page.get_by_label("Rule 1: URL or part of one").fill("/thank-you")
    page.get_by_label("Spring sale").check()
    page.get_by_label("Page URL").fill("https://acme.example/thank-you?order=7")
    expect(page.get_by_text("This action would fire.")).to_be_visible()
    page.get_by_label("Page URL").fill("https://acme.example/cart")
    expect(page.get_by_text("This action would not fire:")).to_be_visible()
    page.get_by_role("button", name="Create action").click()
    expect(page.get_by_role("heading", level=1, name="Action: Purchase")).to_be_visible()
    action = page.url.rsplit("/", 1)[-1]
    # The tag debugger now names the saved action.
    page.goto(tag_url)
    debugger = page.get_by_role("region", name="Tag debugger")
    debugger.get_by_label("Page URL").fill("https://shop.acme.example/thank-you")
    debugger.get_by_role("button", name="Test URL").click()
    expect(debugger.get_by_role("row", name=re.compile("Purchase Fires"))).to_be_visible()
    # The reports before and after the facts arrive.
    visit(page, "/reports")
    assert chart_sums(page) == [0, 0, 0]
    campaign = server.call("GET", "/v1/campaigns", key)["items"][0]["campaign_id"]
    send_facts(server, key, campaign, action, "acme")
    page.reload()
    settle(page)
    assert chart_sums(page) == [1, 1, 2]  # one post-click, one post-view
    totals = page.locator(".kpis")
    expect(totals).to_contain_text("Conversions2")
    expect(totals).to_contain_text("$120.00")  # the account's spend, its CPA and ROAS too
    expect(totals).to_contain_text("$60.00")
    row = page.get_by_role("region", name="By campaign", exact=True).get_by_role(
        "row", name=re.compile("Spring sale"))
    expect(row).to_contain_text("$74.99")
    expect(row).to_contain_text("0.62×")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    csv_file = download.value
    assert re.fullmatch(r"convtrack-report_\d{4}-\d\d-\d\d_to_\d{4}-\d\d-\d\d_by-campaign\.csv",
                        csv_file.suggested_filename)
    text = open(csv_file.path(), encoding="utf-8").read()
    assert text.splitlines()[0].endswith(",campaign_name") and "Spring sale" in text
    # A conversion, explained.
    nav(page, "Conversions")
    page.get_by_role("link", name="Why: conversion acme-order-1").click()
    expect(page.get_by_role("heading", level=1, name="Why this conversion counts as it does")
           ).to_be_visible()
    touches = page.get_by_role("region", name="Touches and what became of them")
    expect(touches).to_contain_text("Credited")
    expect(touches).to_contain_text("Spring sale")  # campaigns by name, not by id
    expect(page.locator(".summary .big")).not_to_be_empty()
    # The audit trail has the changes, each with its before and after.
    nav(page, "Audit log")
    item = page.locator(".audit-item", has_text="Campaign Spring sale").first
    item.get_by_role("button", name="Show change").click()
    expect(item.get_by_role("region", name="Before and after")).to_be_visible()
    assert console.take() == []


PAGES = [  # (screenshot name, address under #, its heading, what it shows once loaded)
    ("reports", "/reports?group_by=campaign,day", "Reports", "Autumn sale"),
    ("conversions", "/conversions", "Conversions", "Checkout"),
    ("explanation", "/conversions/shop-order-1?tag_id={tag}",
     "Why this conversion counts as it does", "Credited"),
    ("tags", "/tags", "Tags", "shop site"),
    ("tag", "/tags/{tag}", "Tag: shop site", "shop.example"),
    ("campaigns", "/campaigns", "Campaigns", "Autumn sale"),
    ("campaign", "/campaigns/{campaign}", "Campaign: Autumn sale", "Spend by day"),
    ("actions", "/actions", "Conversion actions", "Checkout"),
    ("action", "/actions/{action}", "Action: Checkout", "Test the rules"),
    ("audit", "/audit", "Audit log", "Autumn sale"),
    ("reattribution", "/reattribution", "Re-attribution", "rebuild API"),
]


def test_every_page_is_accessible_error_free_and_fits_a_desktop_and_a_phone(
        page: Page, server: UiServer, shop: Shop) -> None:
    console = ConsoleErrors(page)
    page.goto("/")
    settle(page)
    assert serious_violations(page) == []
    screenshot(page, "sign-in")
    sign_in(page, shop.key)
    for viewport, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(viewport)
        for name, path, heading, shown in PAGES:
            page.goto("/#" + path.format(tag=shop.tag, campaign=shop.campaign,
                                         action=shop.action))
            expect(page.get_by_role("heading", level=1, name=heading, exact=True)).to_be_visible()
            expect(page.locator("main")).to_contain_text(shown)
            if name == "action":
                page.get_by_label("Page URL").fill("https://shop.example/order-complete")
                expect(page.get_by_text("This action would fire.")).to_be_visible()
            if name == "audit":
                page.get_by_role("button", name="Show change").first.click()
                expect(page.get_by_role("region", name="Before and after")).to_be_visible()
            expect(page.locator(".loading, [aria-busy=true]")).to_have_count(0)
            assert serious_violations(page) == [], (name, suffix)
            assert not overflows_sideways(page), (name, suffix)
            screenshot(page, f"{name}-{suffix}")
        assert console.take() == [], suffix


def test_the_api_viewer_at_schema_needs_nothing_but_convtrack(page: Page, server: UiServer
                                                               ) -> None:
    elsewhere: list[str] = []

    def only_convtrack(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        if request.url.startswith(server.url):
            route.continue_()  # type: ignore[attr-defined]
        else:
            elsewhere.append(request.url)
            route.abort()  # type: ignore[attr-defined]

    page.route("**/*", only_convtrack)
    console = ConsoleErrors(page)
    page.goto("/schema")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("convtrack")
    operation = page.locator(".opblock-summary-path", has_text="/v1/reports/conversions")
    expect(operation).to_be_visible()
    screenshot(page, "schema")
    assert elsewhere == [] and console.take() == []
