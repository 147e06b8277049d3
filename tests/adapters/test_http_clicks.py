"""Click URLs over HTTP on the real stack: `POST /v1/clicks` and `GET /c/{token}` (ADR 0030)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.bootstrap import Container, build_app, build_container
from adapters.http.errors import NOT_FOUND_PAGE
from adapters.settings import Settings
from application.clicks import Click, ClickTokens
from application.member_tokens import MemberTokens
from tests.conftest import ADMIN_TOKEN
from tests.e2e.tcp_proxy import TcpProxy

LANDING = "https://shop.example.com/offer?utm_source=ad#details"


@dataclass
class Shop:
    """An account whose tag on example.com has an action linking its campaign."""

    client: TestClient[Litestar]
    admin: dict[str, str]
    key: dict[str, str]
    tag: str
    campaign: str
    action: str

    def new_click(self, **fields: Any) -> Any:
        body = {"member_id": "member-1", "campaign_id": self.campaign,
                "landing_url": LANDING} | fields
        return self.client.post("/v1/clicks", json=body, headers=self.admin)

    def click(self, **fields: Any) -> dict[str, str]:
        response = self.new_click(**fields)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def follow(self, click_url: str) -> Any:
        return self.client.get(urlsplit(click_url).path, follow_redirects=False)


def new_account(client: TestClient[Litestar], admin: dict[str, str]) -> tuple[str, dict[str, str]]:
    account = client.post("/v1/accounts", json={"name": "A"}, headers=admin).json()
    return account["account_id"], {"Authorization": f"Bearer {account['api_key']}"}


def new_site(client: TestClient[Litestar], key: dict[str, str], domain: str,
             campaign: str | None = None) -> tuple[str, str, str]:
    """A tag on `domain` with one action linking a campaign (a new one unless given)."""
    tag = client.post("/v1/tags", json={"name": "site"}, headers=key).json()["tag_id"]
    assert client.post(f"/v1/tags/{tag}/domains", json={"domain": domain},
                       headers=key).status_code == 201
    if campaign is None:
        campaign = client.post("/v1/campaigns", json={"name": "C", "type": "text_ad"},
                               headers=key).json()["campaign_id"]
    action = client.post("/v1/conversion-actions", headers=key, json={
        "tag_id": tag, "name": "Buy", "category": "purchase", "campaign_ids": [campaign]})
    assert action.status_code == 201, action.text
    return tag, campaign, action.json()["action_id"]


@pytest.fixture
def shop(client: TestClient[Litestar], admin_headers: dict[str, str]) -> Shop:
    _, key = new_account(client, admin_headers)
    tag, campaign, action = new_site(client, key, "example.com")
    return Shop(client, admin_headers, key, tag, campaign, action)


def click_touches(container: Container, click_id: str) -> int:
    """How many click touches the member timelines hold for this id (0 or 1)."""
    keys = container.ingestion.ledger.find_fact_keys("touch", [click_id])
    return sum(1 for key in keys.values() if key.source == "click")


def test_following_a_click_redirects_to_the_landing_url_with_the_click_id_added(
    shop: Shop, pg_container: Container
) -> None:
    click = shop.click()

    followed = shop.follow(click["click_url"])

    assert followed.status_code == 302
    assert followed.headers["cache-control"] == "no-store"
    location = urlsplit(followed.headers["location"])
    assert (location.scheme, location.hostname, location.path) == (
        "https", "shop.example.com", "/offer")
    assert parse_qs(location.query) == {"utm_source": ["ad"], "ct_clid": [click["click_id"]]}
    assert location.fragment == "details"


def test_following_a_click_sets_the_member_cookie_of_the_clicks_member(
    shop: Shop, pg_container: Container
) -> None:
    followed = shop.follow(shop.click(member_id="member-7")["click_url"])

    cookie = followed.headers["set-cookie"]
    value = cookie.split(";")[0].removeprefix("ct_mid=")
    assert MemberTokens(pg_container.secret_keys).verify(value, datetime.now(UTC)) == "member-7"
    assert {"Secure", "HttpOnly", "SameSite=None", "Path=/"} <= {
        part.strip() for part in cookie.split(";")}


def test_a_click_is_recorded_once_however_often_it_is_followed(
    shop: Shop, pg_container: Container
) -> None:
    click = shop.click()
    assert click_touches(pg_container, click["click_id"]) == 0  # nothing stored at creation

    answers = [shop.follow(click["click_url"]).status_code for _ in range(3)]

    assert answers == [302, 302, 302]
    assert click_touches(pg_container, click["click_id"]) == 1
    timeline = pg_container.ingestion.find_timeline("member-1")
    assert timeline is not None and timeline.version == 2  # started, then one click
    assert pg_container.ingestion.ledger.list_duplicates("touch", click["click_id"]) == []


def test_a_given_event_id_is_the_click_id_and_the_touchs_event_id(
    shop: Shop, pg_container: Container
) -> None:
    click = shop.click(event_id="platform-click-42")

    shop.follow(click["click_url"])

    assert click["click_id"] == "platform-click-42"
    assert click_touches(pg_container, "platform-click-42") == 1


def test_a_conversion_with_the_click_id_is_attributed_post_click_to_the_clicks_member(
    shop: Shop, catch_up: Callable[[], int]
) -> None:
    click = shop.click(member_id="member-9")
    shop.follow(click["click_url"])
    sent = shop.client.post("/v1/conversions", headers=shop.key, json={"conversions": [
        {"event_id": "order-1", "action_id": shop.action, "click_id": click["click_id"],
         "occurred_at": datetime.now(UTC).isoformat()}]})
    assert sent.json()["results"][0]["status"] == "accepted", sent.text

    catch_up()

    [conversion] = shop.client.get("/v1/conversions", params={"member_id": "member-9"},
                                   headers=shop.key).json()["items"]
    assert (conversion["event_id"], conversion["status"]) == ("order-1", "attributed")
    assert conversion["attributions"][0]["kind"] == "post_click"
    assert conversion["attributions"][0]["touch_event_id"] == click["click_id"]
    assert conversion["attributions"][0]["campaign_id"] == shop.campaign


@pytest.mark.parametrize("landing_url", [
    "https://evil.test/",
    "https://evil-example.com/",
    "https://example.com.evil.test/",
    "https://shop.example.com@evil.test/",
    "https://user:secret@shop.example.com/",
    "https://evil.test\\@shop.example.com/",
    "javascript:alert(document.domain)//example.com",
    "//evil.test/",
    "https:evil.test",
    "https://evil.test/?u=https://example.com/",
    "data:text/html,<script>alert(1)</script>",
    "https://exa\tmple.com/",
])
def test_a_landing_url_off_the_campaigns_domains_is_422_naming_it(
    shop: Shop, landing_url: str
) -> None:
    response = shop.new_click(landing_url=landing_url)

    assert response.status_code == 422, response.text
    assert response.json()["field"] == "landing_url"


def test_a_domain_of_another_accounts_tag_is_no_landing_url(
    shop: Shop, admin_headers: dict[str, str]
) -> None:
    _, other_key = new_account(shop.client, admin_headers)
    new_site(shop.client, other_key, "other.test")

    response = shop.new_click(landing_url="https://other.test/")

    assert response.status_code == 422
    assert response.json()["error"] == "landing_domain_not_allowed"


def test_a_tag_whose_actions_do_not_link_the_campaign_gives_no_landing_domain(
    shop: Shop
) -> None:
    new_site(shop.client, shop.key, "unlinked.test")  # its action links a new campaign

    assert shop.new_click(landing_url="https://unlinked.test/").status_code == 422


def test_a_disabled_or_archived_action_gives_no_landing_domain(shop: Shop) -> None:
    shop.client.patch(f"/v1/conversion-actions/{shop.action}", json={"enabled": False},
                      headers=shop.key)
    assert shop.new_click().status_code == 422
    shop.client.patch(f"/v1/conversion-actions/{shop.action}", json={"enabled": True},
                      headers=shop.key)
    assert shop.new_click().status_code == 201
    shop.client.post(f"/v1/conversion-actions/{shop.action}/archive", headers=shop.key)
    assert shop.new_click().status_code == 422


def test_a_tag_shared_with_the_campaigns_owner_counts_until_the_grant_is_revoked(
    shop: Shop, admin_headers: dict[str, str], pg_container: Container
) -> None:
    _, partner_key = new_account(shop.client, admin_headers)
    tag = shop.client.post("/v1/tags", json={"name": "partner"},
                           headers=partner_key).json()["tag_id"]
    shop.client.post(f"/v1/tags/{tag}/domains", json={"domain": "partner.test"},
                     headers=partner_key)
    campaign = pg_container.management.find_campaign(shop.campaign)
    assert campaign is not None
    granted = shop.client.post(f"/v1/tags/{tag}/grants", headers=partner_key, json={
        "account_id": campaign.owner_account_id, "role": "editor"})
    assert granted.status_code == 201
    linked = shop.client.post("/v1/conversion-actions", headers=shop.key, json={
        "tag_id": tag, "name": "Lead", "category": "lead", "campaign_ids": [shop.campaign]})
    assert linked.status_code == 201, linked.text
    click = shop.click(landing_url="https://partner.test/")
    assert shop.follow(click["click_url"]).status_code == 302

    shop.client.delete(f"/v1/tags/{tag}/grants/{campaign.owner_account_id}",
                       headers=partner_key)

    assert shop.follow(click["click_url"]).status_code == 404
    assert shop.new_click(landing_url="https://partner.test/").status_code == 422


def test_a_domain_removed_after_the_click_was_made_makes_the_click_a_404_page(
    shop: Shop, pg_container: Container
) -> None:
    click = shop.click()
    removed = shop.client.delete(f"/v1/tags/{shop.tag}/domains/example.com", headers=shop.key)
    assert removed.status_code == 200

    followed = shop.follow(click["click_url"])

    assert followed.status_code == 404
    assert followed.headers["content-type"].startswith("text/html")
    assert followed.content == NOT_FOUND_PAGE
    assert "set-cookie" not in followed.headers and "location" not in followed.headers
    assert click_touches(pg_container, click["click_id"]) == 0


@pytest.mark.parametrize("path", [
    "/c/not-a-token",
    "/c/" + "A" * 5000,
    "/c/WzFd.1.AAAA",
], ids=["garbage", "long", "malformed"])
def test_an_unknown_click_url_is_a_small_404_page(shop: Shop, path: str) -> None:
    followed = shop.client.get(path, follow_redirects=False)

    assert (followed.status_code, followed.content) == (404, NOT_FOUND_PAGE)
    assert followed.headers["cache-control"] == "no-store"


def test_a_tampered_expired_or_foreign_click_url_is_the_same_404_page(
    shop: Shop, pg_container: Container
) -> None:
    token = urlsplit(shop.click()["click_url"]).path.removeprefix("/c/")
    click = Click("c-1", "member-1", shop.campaign, LANDING)
    now = datetime.now(UTC)
    expired = ClickTokens(pg_container.secret_keys).issue(click, now - timedelta(days=31))
    foreign = ClickTokens([b"f" * 32]).issue(click, now)
    member = MemberTokens(pg_container.secret_keys).issue("member-1", now)
    forged_payload = ClickTokens([b"f" * 32]).issue(
        Click("c-1", "member-1", shop.campaign, "https://evil.test/"), now).token.split(".")[0]
    tampered = ".".join([forged_payload, *token.split(".")[1:]])

    for bad in (tampered, expired.token, foreign.token, member.token):
        followed = shop.client.get(f"/c/{bad}", follow_redirects=False)
        assert (followed.status_code, followed.content) == (404, NOT_FOUND_PAGE)
    assert click_touches(pg_container, "c-1") == 0


def test_only_the_admin_token_makes_click_urls(
    shop: Shop, client: TestClient[Litestar]
) -> None:
    body = {"member_id": "m", "campaign_id": shop.campaign, "landing_url": LANDING}

    assert client.post("/v1/clicks", json=body, headers=shop.key).status_code == 403
    assert client.post("/v1/clicks", json=body).status_code == 401


def test_an_unknown_campaign_is_422_naming_it_and_an_archived_one_409(shop: Shop) -> None:
    unknown = shop.new_click(campaign_id="00000000-0000-4000-8000-000000000000")
    assert (unknown.status_code, unknown.json()["field"]) == (422, "campaign_id")
    shop.client.patch(f"/v1/campaigns/{shop.campaign}", json={"status": "archived"},
                      headers=shop.key)

    archived = shop.new_click()

    assert (archived.status_code, archived.json()["field"]) == (409, "campaign_id")


@pytest.mark.parametrize("body, field", [
    ({"member_id": ""}, "member_id"),
    ({"event_id": "x" * 201}, "event_id"),
    ({"landing_url": 5}, "landing_url"),
    ({"extra": 1}, "extra"),
])
def test_a_bad_field_is_422_naming_it(shop: Shop, body: dict[str, Any], field: str) -> None:
    response = shop.new_click(**body)

    assert (response.status_code, response.json()["field"]) == (422, field)


def test_browsers_following_click_urls_are_not_held_to_the_api_rate_of_one_credential(
    shop: Shop, pg_container: Container
) -> None:
    click_url = shop.click()["click_url"]
    pg_container.settings = replace(pg_container.settings, api_rate=1)

    with TestClient(build_app(pg_container)) as limited:
        answers = {limited.get(urlsplit(click_url).path, follow_redirects=False).status_code
                   for _ in range(5)}
        pixels = {limited.get("/m/anything").status_code for _ in range(5)}
        api = {limited.get("/v1/tags", headers=shop.key).status_code for _ in range(5)}

    assert (answers, pixels) == ({302}, {200})
    assert 429 in api  # the limit is on


@pytest.fixture
def cut_store(database_url: str, pg_schema: str) -> Iterator[tuple[TestClient[Litestar], TcpProxy]]:
    """The service with every PostgreSQL connection going through a proxy the test can cut."""
    info = conninfo_to_dict(database_url)
    with TcpProxy(str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)) as proxy:
        url = make_conninfo(database_url, host="127.0.0.1", port=str(proxy.port))
        container = build_container(Settings(database_url=url, database_schema=pg_schema,
                                             pool_size=2), ADMIN_TOKEN)
        try:
            with TestClient(build_app(container)) as client:
                yield client, proxy
        finally:
            proxy.restore()
            container.close()


@pytest.mark.slow
def test_a_click_followed_while_the_store_is_unreachable_still_redirects(
    cut_store: tuple[TestClient[Litestar], TcpProxy]
) -> None:
    client, proxy = cut_store
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    _, key = new_account(client, admin)
    shop = Shop(client, admin, key, *new_site(client, key, "example.com"))
    click = shop.click()
    proxy.cut()
    began = time.monotonic()

    followed = shop.follow(click["click_url"])

    assert time.monotonic() - began < 5  # about one CONVTRACK_DB_TIMEOUT (ADR 0024)
    assert followed.status_code == 302
    assert parse_qs(urlsplit(followed.headers["location"]).query)["ct_clid"] == [
        click["click_id"]]
    assert followed.headers["set-cookie"].startswith("ct_mid=")
