"""The fires consumer on the real PostgreSQL and NATS (ADR 0032): browser fires become
conversions in member timelines, once each, and nothing that fails blocks the others."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from adapters.bootstrap import Container
from adapters.nats.fires import fire_message
from adapters.read_side.runtime import ReadSideRuntime
from application.access import SERVICE_COLLECTOR
from application.facts import ConversionIn, ItemResult, Undecodable
from domain.member_timeline import conversion_scope
from tests.adapters.collect_support import (  # noqa: F401 (fixtures)
    FAST_FIRES,
    THANKS,
    Site,
    collect_container,
    fires_consumer,
    publish_raw,
    site,
    stream_fires,
    stream_size,
)
from tests.adapters.read_side_support import wait_until
from tests.application.support import recorded_events


def conversions_of(container: Container, member_id: str) -> list[tuple[str, str, str]]:
    """(event_id, action_id, source) of each conversion recorded for the member."""
    return [(e.event_id, e.action_id, e.source) for e in recorded_events(container, member_id)
            if type(e).__name__ == "ConversionRecorded"]


def recorded(site: Site, *event_ids: str) -> bool:
    keys = site.container.ingestion.ledger.find_fact_keys(conversion_scope(site.tag),
                                                          list(event_ids))
    return len(keys) == len(event_ids)


def test_a_fire_on_a_matching_page_becomes_the_members_conversion_from_the_tag(
    site: Site, nats_url: str
) -> None:
    buy = site.action(("contains", "/thanks"))
    site.sync_model()

    with fires_consumer(site.container, nats_url):
        site.pixel(site.cookie("member-1"), url=THANKS, eid="e1")
        wait_until(lambda: recorded(site, "e1"), 10, "the fire to be recorded")
        # The ack follows the commit: wait for it while the consumer still runs.
        wait_until(lambda: not stream_size(nats_url, site.container.topology), 20,
                   "the recorded fire to leave the work queue")

    assert conversions_of(site.container, "member-1") == [("e1", buy, "tag")]
    [event] = [e for e in recorded_events(site.container, "member-1") if hasattr(e, "event_id")]
    assert event.actor == SERVICE_COLLECTOR


def test_a_fire_sent_again_after_the_duplicate_window_is_recorded_once(
    site: Site, nats_url: str
) -> None:
    buy = site.action(("contains", "/thanks"))
    site.sync_model()
    site.pixel(site.cookie(), url=THANKS, eid="e1")
    [fire] = stream_fires(nats_url, site.container.topology)
    _, body, _ = fire_message(site.container.topology, fire)
    # Past JetStream's window the copy is a new message: the ingestion ledger must catch it.
    publish_raw(nats_url, site.container.topology, body, "a-later-retry")

    with fires_consumer(site.container, nats_url):
        wait_until(lambda: not stream_size(nats_url, site.container.topology), 10,
                   "both copies to be consumed")

    assert conversions_of(site.container, "member-1") == [("e1", buy, "tag")]
    [copy] = site.container.ingestion.ledger.list_duplicates(conversion_scope(site.tag), "e1")
    assert copy.source == "tag"


def test_a_fire_and_a_server_side_conversion_with_the_same_event_id_are_one_conversion(
    site: Site, nats_url: str
) -> None:
    buy = site.action(("contains", "/thanks"))
    site.sync_model()
    now = datetime.now(UTC).isoformat()

    def server_side(event_id: str) -> str:
        response = site.client.post("/v1/conversions", headers=site.key, json={"conversions": [
            {"event_id": event_id, "action_id": buy, "member_id": "member-1",
             "occurred_at": now}]})
        return str(response.json()["results"][0]["status"])

    with fires_consumer(site.container, nats_url):
        site.pixel(site.cookie(), url=THANKS, eid="tag-first")
        wait_until(lambda: recorded(site, "tag-first"), 10, "the fire to be recorded")
        api_answer = server_side("tag-first")
        assert server_side("api-first") == "accepted"
        site.pixel(site.cookie(), url=THANKS, eid="api-first")
        wait_until(lambda: not stream_size(nats_url, site.container.topology), 10,
                   "the second fire to be consumed")

    assert api_answer == "duplicate"
    assert sorted(conversions_of(site.container, "member-1")) \
        == [("api-first", buy, "api"), ("tag-first", buy, "tag")]
    ledger = site.container.ingestion.ledger
    scope = conversion_scope(site.tag)
    keys = ledger.find_fact_keys(scope, ["tag-first", "api-first"])
    # Both sources are in the ledger: the one recorded, and the copy answered duplicate.
    assert [(keys[e].source, [d.source for d in ledger.list_duplicates(scope, e)])
            for e in ("tag-first", "api-first")] == [("tag", ["api"]), ("api", ["tag"])]


def test_a_redelivered_fire_whose_ack_was_lost_is_recorded_once(
    site: Site, nats_url: str
) -> None:
    buy = site.action(("contains", "/thanks"))
    site.sync_model()
    record = site.container.ingestion.record_fires
    calls: list[int] = []

    def commit_then_lose_the_ack(items: Sequence[ConversionIn | Undecodable]) -> list[ItemResult]:
        results = record(items)
        calls.append(len(items))
        if len(calls) == 1:
            raise ConnectionError("the connection dropped after the commit")
        return results

    parts = replace(site.container.read_side, record_fires=commit_then_lose_the_ack)
    site.pixel(site.cookie(), url=THANKS, eid="e1")
    runtime = ReadSideRuntime(parts, [], nats_url, FAST_FIRES).start()
    try:
        wait_until(lambda: len(calls) >= 2 and not stream_size(
            nats_url, site.container.topology), 15, "the redelivery to be acked")
    finally:
        runtime.stop()

    assert conversions_of(site.container, "member-1") == [("e1", buy, "tag")]


def test_a_fire_that_turned_invalid_before_it_was_recorded_is_dead_lettered_alone(
    site: Site, nats_url: str
) -> None:
    buy = site.action(("contains", "/thanks"))
    gone = site.action(("contains", "/thanks"), name="Soon disabled")
    site.action(("contains", "/cart"), name="Cart")
    site.sync_model()
    site.pixel(site.cookie(), url=THANKS, eid="both")
    site.client.patch(f"/v1/conversion-actions/{gone}", json={"enabled": False},
                      headers=site.key)
    publish_raw(nats_url, site.container.topology, b"not a fire", "garbage")
    site.pixel(site.cookie(), url="https://shop.example/cart", eid="after")

    with fires_consumer(site.container, nats_url):
        wait_until(lambda: not stream_size(nats_url, site.container.topology), 10,
                   "every message to be consumed")

    assert sorted(e for e, _, _ in conversions_of(site.container, "member-1")) \
        == ["after", f"both:{buy}"]
    letters = site.container.ingestion.ledger.list_dead_letters()
    assert sorted((d.kind, d.reason, d.event_id, d.actor) for d in letters) == [
        ("collect", "action_disabled", f"both:{gone}", SERVICE_COLLECTOR),
        ("collect", "undecodable_fire", None, SERVICE_COLLECTOR)]


def test_a_fire_naming_only_a_click_id_is_recorded_for_the_clicks_member(
    site: Site, nats_url: str
) -> None:
    campaign = site.client.post("/v1/campaigns", json={"name": "C", "type": "text_ad"},
                                headers=site.key).json()["campaign_id"]
    buy = site.action(("contains", "/thanks"), campaign_ids=[campaign])
    clicked = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    site.client.post("/v1/touches", headers=site.admin, json={"touches": [
        {"event_id": "click-1", "member_id": "member-9", "kind": "click",
         "campaign_id": campaign, "occurred_at": clicked}]})
    site.sync_model()

    with fires_consumer(site.container, nats_url):
        site.beacon(json.dumps({"tid": site.tag, "url": THANKS, "eid": "e1",
                                "clid": "click-1"}).encode())
        site.beacon(json.dumps({"tid": site.tag, "url": THANKS, "eid": "e2",
                                "clid": "no-such-click"}).encode())
        wait_until(lambda: not stream_size(nats_url, site.container.topology), 10,
                   "both fires to be consumed")

    assert conversions_of(site.container, "member-9") == [("e1", buy, "tag")]
    [letter] = site.container.ingestion.ledger.list_dead_letters()
    assert (letter.reason, letter.event_id) == ("unknown_click_id", "e2")
