"""`GET` and `POST /collect` on the real PostgreSQL and NATS (docs/api.md: Collection; ADR
0031-0033): what is decided, what is published, and that a page can never tell which."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import REGISTRY

from adapters.bootstrap import Container
from adapters.http.collect_routes import client_address
from application.fires import OUTCOMES
from tests.adapters.collect_support import (  # noqa: F401 (fixtures)
    CHROME,
    THANKS,
    Site,
    answer,
    collect_container,
    collecting,
    site,
    stream_fires,
)

HEADLESS = CHROME.replace("Chrome/", "HeadlessChrome/")


def counts() -> dict[str, float]:
    """convtrack_collect_fires_total by outcome, now."""
    return {o: REGISTRY.get_sample_value("convtrack_collect_fires_total", {"outcome": o}) or 0.0
            for o in OUTCOMES}


def tag_count(tag: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("convtrack_collect_tag_fires_total",
                                     {"tag_id": tag, "outcome": outcome}) or 0.0


def delta(before: dict[str, float]) -> dict[str, float]:
    return {o: n - before[o] for o, n in counts().items() if n != before[o]}


def test_a_fire_on_a_matching_page_is_published_once_to_the_deployments_fires_stream(
    site: Site, nats_url: str
) -> None:
    buy = site.action(("contains", "/thanks"))
    site.sync_model()
    cookie = site.cookie("member-1")
    before, accepted_before = counts(), tag_count(site.tag, "accepted")

    first = site.pixel(cookie, url=THANKS, eid="e1")
    retried = site.pixel(cookie, url=THANKS, eid="e1")  # the same fire again: one message
    beacon = site.beacon(json.dumps({"tid": site.tag, "url": THANKS, "eid": "e1"}).encode(),
                         cookie)

    assert (first.status_code, retried.status_code, beacon.status_code) == (200, 200, 204)
    [fire] = stream_fires(nats_url, site.container.topology)
    assert (fire.tag_id, fire.event_id, fire.url, fire.member_id, fire.conversions) \
        == (site.tag, "e1", THANKS, "member-1", ((buy, "e1"),))
    assert delta(before) == {"accepted": 3}
    assert tag_count(site.tag, "accepted") - accepted_before == 3


def test_every_drop_is_counted_by_reason_and_answered_exactly_as_an_accepted_fire(
    site: Site
) -> None:
    site.action(("contains", "/thanks"))
    site.sync_model()
    cookie = site.cookie()
    unknown_tag = str(uuid.uuid4())
    good = {"tid": site.tag, "url": THANKS, "eid": "e1"}
    pixels: list[tuple[str, dict[str, Any]]] = [
        ("accepted", {"cookie": cookie, "url": THANKS, "eid": "e1"}),
        ("unknown_tag", {"cookie": cookie, "tid": unknown_tag, "url": THANKS, "eid": "e2"}),
        ("unregistered_domain", {"cookie": cookie, "url": "https://evil.example/thanks",
                                 "eid": "e3"}),
        ("no_matching_action", {"cookie": cookie, "url": "https://shop.example/cart",
                                "eid": "e4"}),
        ("unknown_member", {"url": THANKS, "eid": "e5"}),
        ("unknown_member", {"cookie": cookie[:-2] + "xx", "url": THANKS, "eid": "e6"}),
        ("bot", {"cookie": cookie, "url": THANKS, "eid": "e7", "user_agent": "Googlebot/2.1"}),
        ("invalid", {"cookie": cookie, "url": THANKS}),
        ("invalid", {"cookie": cookie, "url": THANKS, "eid": "e8", "v": "12"}),
        ("invalid", {"cookie": cookie, "url": THANKS, "eid": "e9", "v": "-1", "cur": "EUR"}),
        ("invalid", {"cookie": cookie, "url": THANKS, "eid": "x" * 300}),
        ("invalid", {"cookie": cookie, "url": THANKS, "eid": "a\x00b"}),
    ]
    beacons: list[tuple[str, bytes]] = [
        ("accepted", json.dumps(good | {"eid": "b1"}).encode()),
        ("no_matching_action", json.dumps(good | {"eid": "b2", "aid": str(uuid.uuid4())})
         .encode()),
        ("invalid", b"not json"),
        ("invalid", json.dumps(good | {"eid": 7}).encode()),
        ("invalid", json.dumps(good | {"value": {"amount_minor": "5", "currency": "EUR"}})
         .encode()),
        ("invalid", b"{" + b" " * 20000 + b"}"),
    ]
    expected: dict[str, float] = {}
    pixel_answers, beacon_answers = set(), set()
    before = counts()

    for outcome, params in pixels:
        pixel_answers.add(answer(site.pixel(**params)))
        expected[outcome] = expected.get(outcome, 0) + 1
    for outcome, body in beacons:
        beacon_answers.add(answer(site.beacon(body, cookie)))
        expected[outcome] = expected.get(outcome, 0) + 1
    site.client.post(f"/v1/accounts/{site.account_id}/disable", headers=site.admin)
    site.sync_model()
    pixel_answers.add(answer(site.pixel(cookie, url=THANKS, eid="e10")))
    expected["disabled_tag"] = 1

    assert delta(before) == expected
    [pixel] = pixel_answers
    [beacon] = beacon_answers
    assert pixel[0] == 200 and len(pixel[2]) == 43 and pixel[2].startswith(b"GIF89a")
    assert beacon[0] == 204 and beacon[2] == b""
    assert ("content-type", "image/gif") in pixel[1]
    for status, headers, _ in (pixel, beacon):
        names = {name for name, _ in headers}
        assert "set-cookie" not in names
        assert ("access-control-allow-origin", "https://www.shop.example") in headers
        assert ("access-control-allow-credentials", "true") in headers
        assert ("vary", "Origin") in headers
        assert ("cache-control", "no-store") in headers


def test_a_crawler_is_dropped_and_a_headless_browser_is_not(site: Site, nats_url: str) -> None:
    site.action(("contains", "/thanks"))
    site.sync_model()
    before = counts()

    site.pixel(site.cookie(), url=THANKS, eid="crawled", user_agent="Mozilla/5.0 (compatible; "
               "bingbot/2.0; +http://www.bing.com/bingbot.htm)")
    site.pixel(site.cookie(), url=THANKS, eid="headless", user_agent=HEADLESS)

    assert delta(before) == {"bot": 1, "accepted": 1}
    assert [f.event_id for f in stream_fires(nats_url, site.container.topology)] == ["headless"]


def test_an_explicit_track_call_converts_for_its_action_whatever_its_rules_with_its_value(
    site: Site, nats_url: str
) -> None:
    signup = site.action(("exact", "https://shop.example/welcome"), category="sign_up")
    site.sync_model()
    cookie = site.cookie()

    site.pixel(cookie, url="https://shop.example/form", eid="t1", aid=signup, v="1250",
               cur="EUR")
    site.beacon(json.dumps({"tid": site.tag, "url": "https://shop.example/form", "eid": "t2",
                            "aid": signup, "value": {"amount_minor": 99, "currency": "USD"}})
                .encode(), cookie)
    site.pixel(cookie, url="https://other.example/form", eid="t3", aid=signup)

    fires = stream_fires(nats_url, site.container.topology)
    assert [(f.event_id, f.conversions, f.value and (f.value.amount_minor, f.value.currency))
            for f in fires] == [("t1", ((signup, "t1"),), (1250, "EUR")),
                                ("t2", ((signup, "t2"),), (99, "USD"))]


def test_a_page_view_matching_two_actions_is_one_fire_converting_for_each(
    site: Site, nats_url: str
) -> None:
    every_page = site.action(("starts_with", "https://www.shop.example/"), category="other")
    thanks = site.action(("contains", "/thanks"))
    site.sync_model()

    site.pixel(site.cookie(), url=THANKS, eid="p1")

    [fire] = stream_fires(nats_url, site.container.topology)
    assert fire.conversions == ((every_page, f"p1:{every_page}"), (thanks, f"p1:{thanks}"))


def test_the_cors_preflight_lets_any_origin_send_with_its_cookies(site: Site) -> None:
    response = site.client.options("/collect", headers={
        "Origin": "https://anyone.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://anyone.example"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "content-type"
    assert "Origin" in response.headers["vary"]
    assert "set-cookie" not in response.headers


def test_the_catalogue_follows_new_domains_actions_and_disabled_tags_within_a_second(
    site: Site
) -> None:
    cookie = site.cookie()
    model = site.collection.collector.model

    def seconds_until(outcome: str, url: str) -> float:
        began = time.monotonic()
        while model.decide(site.tag, url).outcome != outcome:
            assert time.monotonic() - began < 1.0, f"still not {outcome} after a second"
            time.sleep(0.002)
        return time.monotonic() - began

    site.sync_model()
    assert model.decide(site.tag, THANKS).outcome == "no_matching_action"
    site.action(("contains", "/thanks"))
    new_action = seconds_until("accepted", THANKS)
    site.register("blog.example")
    new_domain = seconds_until("accepted", "https://blog.example/thanks")
    site.client.post(f"/v1/accounts/{site.account_id}/disable", headers=site.admin)
    disabled = seconds_until("disabled_tag", THANKS)

    print(f"catalogue staleness: new action {new_action * 1000:.1f} ms, new domain "
          f"{new_domain * 1000:.1f} ms, disabled tag {disabled * 1000:.1f} ms")
    assert site.pixel(cookie, url=THANKS, eid="late").status_code == 200


def test_a_member_past_ten_fires_a_second_is_dropped_silently_and_counted(site: Site) -> None:
    site.action(("contains", "/thanks"))
    site.sync_model()
    busy, calm = site.cookie("busy-member"), site.cookie("calm-member")
    before = counts()

    began = time.monotonic()
    answers = {answer(site.pixel(busy, url=THANKS, eid=f"b{i}")) for i in range(20)}
    elapsed = time.monotonic() - began
    site.pixel(calm, url=THANKS, eid="c1")

    counted = delta(before)
    assert len(answers) == 1
    # A burst of ten, then ten more a second: what the elapsed time refilled.
    assert 10 <= counted["accepted"] - 1 <= 10 + int(elapsed * 10) + 1
    assert counted["rate_limited"] == 21 - counted["accepted"]


def test_a_client_address_past_its_rate_is_dropped_silently_and_counted(
    collect_container: Container, admin_headers: dict[str, str]
) -> None:
    limited = replace(collect_container, settings=replace(collect_container.settings,
                                                          collect_ip_rate=5))
    with collecting(limited) as (client, collection):
        site = Site(client, limited, collection, admin_headers).set_up()
        site.action(("contains", "/thanks"))
        site.sync_model()
        before = counts()

        answers = {answer(site.pixel(site.cookie(f"m{i}"), url=THANKS, eid=f"e{i}"))
                   for i in range(12)}

    counted = delta(before)
    assert len(answers) == 1
    assert counted["rate_limited"] >= 5 and counted["accepted"] >= 5
    assert counted["rate_limited"] + counted["accepted"] == 12


def test_forwarded_addresses_count_only_behind_as_many_trusted_proxies_as_configured() -> None:
    scope = {"client": ("10.0.0.1", 1234),
             "headers": [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7")]}

    assert client_address(scope, 0) == bytes([10, 0, 0, 1])  # a client may write any header
    assert client_address(scope, 1) == bytes([203, 0, 113, 7])  # what our one proxy saw
    assert client_address(scope, 2) == bytes([6, 6, 6, 6])
    one = client_address({"client": ("2001:db8:1:2::1", 1)}, 0)
    other = client_address({"client": ("2001:db8:1:2:ffff::9", 1)}, 0)
    assert one == other and len(one) == 8  # one subscriber's /64 is one address


def test_the_direct_route_keeps_litestars_http_series_and_leaves_other_methods_to_it(
    site: Site
) -> None:
    def series(name: str, method: str, status: str) -> float:
        return REGISTRY.get_sample_value(name, {
            "app_name": "convtrack", "method": method, "path": "/collect",
            "status_code": status}) or 0.0

    before = (series("convtrack_requests_total", "GET", "200"),
              series("convtrack_requests_total", "POST", "204"))

    site.pixel(url=THANKS, eid="h1")
    site.beacon(b"{}")

    assert (series("convtrack_requests_total", "GET", "200") - before[0],
            series("convtrack_requests_total", "POST", "204") - before[1]) == (1, 1)
    assert series("convtrack_request_duration_seconds_count", "GET", "200") >= 1
    assert series("convtrack_requests_in_progress", "GET", "200") == 0
    assert site.client.put("/collect").status_code == 405  # litestar's answer, as before
    assert site.client.get("/collect/").content == site.pixel().content
