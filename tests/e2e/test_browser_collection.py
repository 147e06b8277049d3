"""Issue 10, point 7: the insight tag in a real browser, end to end.

`convtrack serve` runs for real (a subprocess, HTTPS, its own schema and deployment streams) on
collector.test; an advertiser's site runs on shop.test (a registered domain of the tag) and
other.test (not registered); headless Chromium (Debian's, through Playwright) visits them. What
each scenario proves is read back where an advertiser reads it, `GET /v1/conversions`, and what
the browser sent is checked on the wire (every request to `/collect`, with its cookies).

Two browsers, each with a regular (not incognito) profile: one with Chrome's default cookie
settings, where third-party cookies are allowed, and one with "Block third-party cookies" set,
as Safari and Firefox do by default. (Playwright's usual contexts are incognito-like, where
Chromium blocks third-party cookies already: a test there would never see `ct_mid` travel.)
Screenshots of the key pages go to test-artifacts/browser/.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import playwright.sync_api as playwright_sync
import pytest

from tests.e2e.browser_site import (
    OTHER,
    PLATFORM,
    SHOP,
    Certificate,
    Convtrack,
    Site,
    chromium_args,
    make_certificate,
    wait_for,
)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
RECORDED = 30.0  # seconds for a fire to go through JetStream, the store and the read side

# A browser test never skips: without Debian's chromium (which .ci/run installs) it fails, saying so.
pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def chromium_is_installed() -> None:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"


# --- module fixtures: one convtrack, one site, two browsers ---------------------------------

@dataclass(frozen=True)
class Shop:
    """The advertiser, set up through the API with its account key."""

    key: str
    tag: str
    campaign: str
    purchase: str  # converts on any URL containing /thank-you
    signup: str  # no URL rules: converts only through convtrack('track', ...)
    campaign_created: datetime


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def convtrack(database_url: str, nats_url: str, certificate: Certificate,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Convtrack]:
    service = Convtrack(database_url, nats_url, certificate,
                        tmp_path_factory.mktemp("convtrack") / "data")
    try:
        yield service.start()
    finally:
        service.stop()


@pytest.fixture(scope="module")
def shop(convtrack: Convtrack) -> Shop:
    account = convtrack.call("POST", "/v1/accounts", json={"name": "Shop"}, expect=201)
    key = account["api_key"]
    tag = convtrack.call("POST", "/v1/tags", key, json={"name": "shop.test"},
                         expect=201)["tag_id"]
    convtrack.call("POST", f"/v1/tags/{tag}/domains", key, json={"domain": SHOP}, expect=201)
    campaign_made = convtrack.call("POST", "/v1/campaigns", key, expect=201, json={
        "name": "Spring sale", "type": "sponsored_content"})
    campaign = campaign_made["campaign_id"]
    purchase = convtrack.call("POST", "/v1/conversion-actions", key, expect=201, json={
        "tag_id": tag, "name": "Purchase", "category": "purchase",
        "rules": [{"match": "contains", "url": "/thank-you"}],
        "campaign_ids": [campaign]})["action_id"]
    signup = convtrack.call("POST", "/v1/conversion-actions", key, expect=201, json={
        "tag_id": tag, "name": "Newsletter", "category": "sign_up", "rules": [],
        "campaign_ids": [campaign]})["action_id"]
    return Shop(key, tag, campaign, purchase, signup,
                datetime.fromisoformat(campaign_made["created_at"].replace("Z", "+00:00")))


@pytest.fixture(scope="module")
def site(convtrack: Convtrack, shop: Shop, certificate: Certificate) -> Iterator[Site]:
    snippet = convtrack.call("GET", f"/v1/tags/{shop.tag}/snippet", shop.key)
    assert f'src="{convtrack.public_url}/insight.js"' in snippet
    pages = Site(certificate, snippet=snippet, signup_action=shop.signup).start()
    try:
        yield pages
    finally:
        pages.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as driver:
        yield driver


def profile(directory: Path, block_third_party_cookies: bool) -> Path:
    """A fresh Chromium profile with the "third-party cookies" setting as a user sets it."""
    (directory / "Default").mkdir(parents=True)
    # CookieControlsMode: 0 allows third-party cookies (Chrome's default outside incognito),
    # 1 blocks them (chrome://settings/cookies, "Block third-party cookies").
    preferences = {"profile": {"cookie_controls_mode": 1 if block_third_party_cookies else 0,
                               "block_third_party_cookies": block_third_party_cookies}}
    (directory / "Default" / "Preferences").write_text(json.dumps(preferences))
    return directory


def browser(playwright: Any, certificate: Certificate, directory: Path,
            block_third_party_cookies: bool) -> Any:
    return playwright.chromium.launch_persistent_context(
        str(profile(directory, block_third_party_cookies)), executable_path=CHROMIUM,
        headless=True, args=chromium_args(certificate), ignore_https_errors=True,
        viewport={"width": 800, "height": 360})


@pytest.fixture(scope="module")
def chrome(playwright: Any, certificate: Certificate,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium with its default cookie settings: third-party cookies allowed."""
    context = browser(playwright, certificate, tmp_path_factory.mktemp("chrome"), False)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def strict_chrome(playwright: Any, certificate: Certificate,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium with third-party cookies blocked."""
    context = browser(playwright, certificate, tmp_path_factory.mktemp("strict"), True)
    try:
        yield context
    finally:
        context.close()


# --- a visitor: one tab, everything it sends to /collect, every error it shows -------------

@dataclass(frozen=True)
class Sent:
    """One request a page made to /collect, as it went on the wire."""

    method: str
    url: str
    page: str  # the page that sent it
    headers: dict[str, str]
    body: dict[str, Any] | None

    @property
    def member_cookie(self) -> str | None:
        found = re.search(r"(?:^|;\s*)ct_mid=([^;]*)", self.headers.get("cookie", ""))
        return found.group(1) if found else None


@dataclass
class Visitor:
    """A tab of a browser, watched: requests to /collect, console errors, page errors."""

    context: Any
    convtrack: Convtrack
    scenario: str
    sent: list[Sent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    page: Any = None

    def __post_init__(self) -> None:
        self.context.clear_cookies()  # each scenario starts as a new visitor
        self.page = self.context.new_page()
        self.page.on("requestfinished", self._finished)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(
            f"page error on {self.page.url}: {error}"))

    def _collect(self, request: Any) -> bool:
        return bool(request.url.startswith(f"{self.convtrack.public_url}/collect"))

    def _finished(self, request: Any) -> None:
        if not self._collect(request):
            return
        data = request.post_data
        self.sent.append(Sent(request.method, request.url, request.frame.url,
                              request.all_headers(), json.loads(data) if data else None))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            where = message.location.get("url", "")
            self.problems.append(f"console {message.type} on {self.page.url} ({where}): "
                                 f"{message.text}")

    def visit(self, url: str) -> Sent:
        """Open a page and return the fire its tag sent, once the collector has answered it."""
        before = len(self.sent)
        with self.page.expect_request_finished(self._collect, timeout=15_000):
            self.page.goto(url)
        self.page.wait_for_load_state("load")
        assert len(self.sent) == before + 1, self.sent[before:]
        return self.sent[-1]

    def click(self, selector: str) -> Sent:
        before = len(self.sent)
        with self.page.expect_request_finished(self._collect, timeout=15_000):
            self.page.click(selector)
        assert len(self.sent) == before + 1, self.sent[before:]
        return self.sent[-1]

    def tag_ran(self) -> bool:
        """insight.js replaced the snippet's queue (the real convtrack is marked loaded)."""
        return bool(self.page.evaluate(
            "typeof window.convtrack === 'function' && window.convtrack.loaded === true"))

    def shot(self, step: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.scenario}-{step}.png"))

    def close(self) -> None:
        self.page.close()
        # The tag must never break, or even mar, the page it is on.
        assert self.problems == []


@pytest.fixture
def visit(convtrack: Convtrack) -> Iterator[Any]:
    """`visit(browser_context, scenario)` opens a watched tab for this test (screenshots are
    named after the scenario); closed and checked after the test."""
    opened: list[Visitor] = []

    def open_tab(context: Any, scenario: str) -> Visitor:
        visitor = Visitor(context, convtrack, scenario)
        opened.append(visitor)
        return visitor
    yield open_tab
    for visitor in opened:
        visitor.close()


# --- reading back -------------------------------------------------------------------------

def outcomes(convtrack: Convtrack) -> dict[str, float]:
    """`convtrack_collect_fires_total` by outcome."""
    found = {}
    for name, value in convtrack.collect_metrics().items():
        match = re.fullmatch(r'convtrack_collect_fires_total\{outcome="(\w+)"\}', name)
        if match:
            found[match.group(1)] = value
    return found


def decided(convtrack: Convtrack, before: dict[str, float]) -> dict[str, float]:
    """What the collector decided since `before`: outcome -> fires."""
    now = outcomes(convtrack)
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


def conversions(convtrack: Convtrack, shop: Shop, member: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = convtrack.call(
        "GET", "/v1/conversions", shop.key, params={"member_id": member})["items"]
    return items


def recorded(convtrack: Convtrack, shop: Shop, member: str, count: int = 1
             ) -> list[dict[str, Any]]:
    """The member's conversions, once `count` of them are readable."""
    try:
        return list(wait_for(lambda: (found := conversions(convtrack, shop, member))
                             and len(found) >= count and found, RECORDED,
                             f"{count} conversion(s) of {member} in GET /v1/conversions"))
    except AssertionError as missing:
        # What the collector decided and what the service logged, for whoever reads the failure.
        raise AssertionError(f"{missing}\ncollector: {outcomes(convtrack)}\nprojections: "
                             f"{convtrack.call('GET', '/v1/projections')}\nlog:\n"
                             f"{convtrack.log.read_text(errors='replace')[-3000:]}") from None


def nothing_recorded(convtrack: Convtrack, shop: Shop, member: str) -> None:
    """No conversion of the member, once nothing is in flight anywhere."""
    wait_for(convtrack.settled, RECORDED, "fires recorded and the read side caught up")
    assert conversions(convtrack, shop, member) == []


def click_url(convtrack: Convtrack, shop: Shop, site: Site, member: str,
              landing: str = "/landing") -> dict[str, Any]:
    click: dict[str, Any] = convtrack.call("POST", "/v1/clicks", expect=201, json={
        "member_id": member, "campaign_id": shop.campaign,
        "landing_url": site.url(SHOP, landing)})
    return click


def jar(context: Any, name: str, domain: str) -> str | None:
    for cookie in context.cookies():
        if cookie["name"] == name and cookie["domain"].lstrip(".") == domain:
            return str(cookie["value"])
    return None


def impression(convtrack: Convtrack, shop: Shop, member: str) -> str:
    """Record, as the ad platform does, that the member was just shown the campaign's ad."""
    # A second ago, but never before the campaign existed (it would not count then).
    shown = max(datetime.now(UTC) - timedelta(seconds=1),
                shop.campaign_created + timedelta(milliseconds=10))
    event_id = f"impression-{member}"
    answer = convtrack.call("POST", "/v1/touches", json={"touches": [{
        "event_id": event_id, "member_id": member, "kind": "impression",
        "campaign_id": shop.campaign,
        "occurred_at": shown.isoformat(timespec="milliseconds").replace("+00:00", "Z")}]})
    assert [r["status"] for r in answer["results"]] == ["accepted"], answer
    return event_id


# --- scenarios ----------------------------------------------------------------------------

def test_a_followed_click_then_the_thank_you_page_is_a_post_click_conversion(
    convtrack: Convtrack, shop: Shop, site: Site, chrome: Any, visit: Any
) -> None:
    click = click_url(convtrack, shop, site, "member-click")
    tab = visit(chrome, "1-click")
    before = outcomes(convtrack)

    landing = tab.visit(click["click_url"])
    assert tab.page.url == site.url(SHOP, f"/landing?ct_clid={click['click_id']}")
    tab.shot("landing")
    assert jar(chrome, "ct_clid", SHOP) == click["click_id"]  # first-party, for later pages
    member_cookie = jar(chrome, "ct_mid", "collector.test")
    assert member_cookie is not None
    thanks = tab.visit(site.url(SHOP, "/thank-you"))
    tab.shot("thank-you")

    assert landing.method == "POST" and landing.body is not None  # sendBeacon
    assert landing.body["tid"] == shop.tag and landing.body["clid"] == click["click_id"]
    assert thanks.body == {"tid": shop.tag, "url": site.url(SHOP, "/thank-you"),
                           "eid": thanks.body["eid"], "clid": click["click_id"]}
    # Third-party cookies allowed: the member cookie goes along with the beacon.
    assert thanks.member_cookie == member_cookie
    assert thanks.headers["origin"] == site.url(SHOP, "")
    assert decided(convtrack, before) == {"no_matching_action": 1, "accepted": 1}

    [conversion] = recorded(convtrack, shop, "member-click")
    assert conversion["event_id"] == thanks.body["eid"]
    assert conversion["action_id"] == shop.purchase and conversion["source"] == "tag"
    assert conversion["status"] == "attributed"
    assert [(a["campaign_id"], a["kind"], a["touch_event_id"])
            for a in conversion["attributions"]] == [
        (shop.campaign, "post_click", click["click_id"])]


def test_a_button_calling_convtrack_track_converts_for_its_action_with_its_value(
    convtrack: Convtrack, shop: Shop, site: Site, chrome: Any, visit: Any
) -> None:
    click = click_url(convtrack, shop, site, "member-button", landing="/signup")
    tab = visit(chrome, "1b-button")
    before = outcomes(convtrack)

    view = tab.visit(click["click_url"])
    pressed = tab.click("#signup")
    tab.shot("signup-pressed")

    assert "aid" not in (view.body or {})
    assert pressed.body is not None and pressed.body["aid"] == shop.signup
    assert pressed.body["value"] == {"amount_minor": 1500, "currency": "EUR"}
    assert decided(convtrack, before) == {"no_matching_action": 1, "accepted": 1}
    [conversion] = recorded(convtrack, shop, "member-button")
    assert conversion["action_id"] == shop.signup
    assert conversion["value"] == {"amount_minor": 1500, "currency": "EUR"}
    assert [(a["kind"], a["touch_event_id"]) for a in conversion["attributions"]] == [
        ("post_click", click["click_id"])]


def test_the_same_path_on_an_unregistered_host_records_nothing(
    convtrack: Convtrack, shop: Shop, site: Site, chrome: Any, visit: Any
) -> None:
    click = click_url(convtrack, shop, site, "member-elsewhere")
    tab = visit(chrome, "2-unregistered")
    tab.visit(click["click_url"])
    before = outcomes(convtrack)

    # other.test carries the same snippet, the click id and the member cookie: everything but
    # a registered domain.
    elsewhere = tab.visit(site.url(OTHER, f"/thank-you?ct_clid={click['click_id']}"))
    tab.shot("other-thank-you")

    assert elsewhere.body is not None and elsewhere.body["tid"] == shop.tag
    assert elsewhere.body["clid"] == click["click_id"]
    assert elsewhere.member_cookie is not None
    assert decided(convtrack, before) == {"unregistered_domain": 1}
    nothing_recorded(convtrack, shop, "member-elsewhere")


def test_with_consent_refused_the_tag_sends_nothing_at_all(
    convtrack: Convtrack, shop: Shop, site: Site, chrome: Any, visit: Any
) -> None:
    click = click_url(convtrack, shop, site, "member-refused", landing="/no-consent/landing")
    tab = visit(chrome, "3-no-consent")
    collector: list[str] = []
    tab.page.on("request", lambda r: collector.append(r.url)
                if r.url.startswith(convtrack.public_url) else None)
    before = outcomes(convtrack)

    tab.page.goto(click["click_url"])
    assert "ct_clid=" in tab.page.url and tab.tag_ran()
    tab.page.goto(site.url(SHOP, "/no-consent/thank-you"))
    tab.page.goto(site.url(SHOP, "/no-consent/signup"))
    tab.page.click("#signup")
    assert tab.tag_ran()
    tab.page.wait_for_load_state("networkidle")
    time.sleep(0.5)  # a beacon would have left by now
    tab.shot("signup-pressed")

    assert [url for url in collector if url.startswith(f"{convtrack.public_url}/collect")] == []
    assert tab.sent == []
    assert {url.removeprefix(convtrack.public_url) for url in collector
            if not url.startswith(f"{convtrack.public_url}/c/")} <= {"/insight.js"}
    assert jar(chrome, "ct_clid", SHOP) is None  # no first-party cookie without consent
    assert decided(convtrack, before) == {}
    nothing_recorded(convtrack, shop, "member-refused")


def test_with_third_party_cookies_blocked_the_click_id_still_attributes(
    convtrack: Convtrack, shop: Shop, site: Site, strict_chrome: Any, visit: Any
) -> None:
    click = click_url(convtrack, shop, site, "member-strict")
    tab = visit(strict_chrome, "4-third-party-cookies-blocked")
    before = outcomes(convtrack)

    landing = tab.visit(click["click_url"])
    thanks = tab.visit(site.url(SHOP, "/thank-you"))
    tab.shot("thank-you")

    # The click set ct_mid first-party, and the browser keeps it, but never sends it from an
    # advertiser's page: only the click id, kept in shop.test's own cookie, names the member.
    assert jar(strict_chrome, "ct_mid", "collector.test") is not None
    assert landing.member_cookie is None and thanks.member_cookie is None
    assert "cookie" not in thanks.headers
    assert thanks.body is not None and thanks.body["clid"] == click["click_id"]
    assert decided(convtrack, before) == {"no_matching_action": 1, "accepted": 1}
    [conversion] = recorded(convtrack, shop, "member-strict")
    assert conversion["member_id"] == "member-strict"
    assert [(a["kind"], a["touch_event_id"]) for a in conversion["attributions"]] == [
        ("post_click", click["click_id"])]


def test_a_sync_pixel_then_an_impression_then_the_thank_you_page_is_post_view(
    convtrack: Convtrack, shop: Shop, site: Site, chrome: Any, visit: Any
) -> None:
    member = "member-viewer"
    token = convtrack.call("POST", f"/v1/members/{member}/token", expect=201)
    tab = visit(chrome, "5-sync-pixel")
    # The ad platform's own page (www.collector.test, same site as the collector) carries the
    # sync pixel of the member logged in there.
    tab.page.goto(site.url(PLATFORM, "/feed?" + urlencode({"sync": token["sync_url"]})))
    tab.page.wait_for_function("document.getElementById('sync').complete")
    tab.shot("platform-sync")
    assert jar(chrome, "ct_mid", "collector.test") == token["token"]
    shown = impression(convtrack, shop, member)
    before = outcomes(convtrack)

    thanks = tab.visit(site.url(SHOP, "/thank-you"))
    tab.shot("thank-you")

    assert thanks.member_cookie == token["token"]
    assert thanks.body is not None and "clid" not in thanks.body
    assert decided(convtrack, before) == {"accepted": 1}
    [conversion] = recorded(convtrack, shop, member)
    assert conversion["status"] == "attributed"
    assert [(a["campaign_id"], a["kind"], a["touch_event_id"])
            for a in conversion["attributions"]] == [
        (shop.campaign, "post_view", shown)]


def test_a_tampered_member_cookie_names_nobody(
    convtrack: Convtrack, shop: Shop, site: Site, chrome: Any, visit: Any
) -> None:
    victim, mine = "member-victim", "member-forger"
    impression(convtrack, shop, victim)  # the forger wants this view-through credited
    # A genuine token of the forger's, with the victim's id put in its payload.
    own = convtrack.call("POST", f"/v1/members/{mine}/token", expect=201)["token"]
    payload = own.split(".", 1)[0]
    victim_payload = _b64url(victim.encode())
    assert payload == _b64url(mine.encode())
    forged = victim_payload + own[len(payload):]
    tab = visit(chrome, "6-tampered-cookie")
    tab.context.add_cookies([{
        "name": "ct_mid", "value": forged, "domain": "collector.test", "path": "/",
        "secure": True, "httpOnly": True, "sameSite": "None"}])
    before = outcomes(convtrack)

    thanks = tab.visit(site.url(SHOP, "/thank-you"))
    tab.shot("thank-you")

    assert thanks.member_cookie == forged  # the browser did send it
    assert decided(convtrack, before) == {"unknown_member": 1}
    nothing_recorded(convtrack, shop, victim)
    assert conversions(convtrack, shop, mine) == []


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
