"""The collector's in-memory catalogue and its decisions (ADR 0031), fed from the management
log of the in-memory store, as adapters/read_side/collection_follower.py feeds it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from application.access import Caller
from application.collection_model import CollectionModel, ModelOutOfStep
from application.collector import Collector
from application.fires import (
    ACCEPTED,
    BOT,
    DISABLED_TAG,
    INVALID,
    NO_MATCHING_ACTION,
    RATE_LIMITED,
    UNAVAILABLE,
    UNKNOWN_MEMBER,
    UNKNOWN_TAG,
    UNREGISTERED_DOMAIN,
    Fire,
    FireIn,
    conversion_event_ids,
    to_conversions,
)
from application.management import ManagementApp
from domain.values import Money

THANKS = "https://www.shop.example/thanks?order=1"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0 Safari/537.36"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def follow(app: ManagementApp, model: CollectionModel) -> None:
    """Apply what the log holds beyond the model's position (the follower, without I/O)."""
    for notification in app.recorder.select_notifications(model.position + 1, 10_000):
        if model.wants(notification.topic):
            model.apply(app.mapper.to_domain_event(notification), notification.id)
        model.skip_to(notification.id)


@dataclass
class Shop:
    app: ManagementApp
    model: CollectionModel
    owner: Caller
    owner_id: str
    tag: str

    def action(self, name: str, *rules: tuple[str, str], enabled: bool = True) -> str:
        action = self.app.create_action(self.owner, self.tag, {
            "name": name, "category": "purchase", "enabled": enabled,
            "rules": [{"match": m, "url": u} for m, u in rules]})
        follow(self.app, self.model)
        return str(action.id)


@pytest.fixture
def shop() -> Shop:
    app = ManagementApp()
    owner = app.create_account(Caller.admin(), "Owner")
    caller = Caller.account(str(owner.account.id))
    tag = app.create_tag(caller, "shop")
    app.register_domain(caller, str(tag.id), "shop.example")
    model = CollectionModel()
    follow(app, model)
    return Shop(app, model, caller, str(owner.account.id), str(tag.id))


def test_a_page_view_matching_an_enabled_action_on_a_registered_domain_is_accepted(
    shop: Shop
) -> None:
    buy = shop.action("Buy", ("contains", "/thanks"))

    decision = shop.model.decide(shop.tag, THANKS)

    assert (decision.outcome, decision.tag_known, decision.action_ids) == (ACCEPTED, True, (buy,))


def test_a_page_view_matching_several_actions_converts_for_each_in_the_tags_order(
    shop: Shop
) -> None:
    first = shop.action("Any page", ("starts_with", "https://www.shop.example/"))
    shop.action("Disabled", ("contains", "/thanks"), enabled=False)
    third = shop.action("Thanks", ("contains", "/thanks"))

    assert shop.model.decide(shop.tag, THANKS).action_ids == (first, third)


def test_each_reason_a_page_view_is_not_a_conversion_is_told_apart(shop: Shop) -> None:
    shop.action("Buy", ("contains", "/thanks"))

    assert shop.model.decide("0b5c4a37-2f4e-4e0f-8d7c-9a1b2c3d4e5f", THANKS).outcome == UNKNOWN_TAG
    assert shop.model.decide("not-a-uuid", THANKS).outcome == UNKNOWN_TAG
    assert shop.model.decide(shop.tag, "https://badshop.example/thanks").outcome \
        == UNREGISTERED_DOMAIN
    assert shop.model.decide(shop.tag, "https://shop.example/cart").outcome == NO_MATCHING_ACTION
    shop.app.disable_account(Caller.admin(), shop.owner_id)
    follow(shop.app, shop.model)
    assert shop.model.decide(shop.tag, THANKS).outcome == DISABLED_TAG
    shop.app.enable_account(Caller.admin(), shop.owner_id)
    follow(shop.app, shop.model)
    assert shop.model.decide(shop.tag.upper(), THANKS).outcome == ACCEPTED


def test_an_explicit_track_call_converts_for_its_action_whatever_its_rules(shop: Shop) -> None:
    signup = shop.action("Sign-up button")  # no URL rules: the server API or a track call only
    other_tag = shop.app.create_tag(shop.owner, "blog")
    foreign = shop.app.create_action(shop.owner, str(other_tag.id),
                                     {"name": "Read", "category": "view_content"})
    follow(shop.app, shop.model)

    assert shop.model.decide(shop.tag, "https://shop.example/x", signup).action_ids == (signup,)
    assert shop.model.decide(shop.tag, "https://b.example/x", signup).outcome \
        == UNREGISTERED_DOMAIN
    assert shop.model.decide(shop.tag, "https://shop.example/x", str(foreign.id)).outcome \
        == NO_MATCHING_ACTION
    assert shop.model.decide(shop.tag, "https://shop.example/x").outcome == NO_MATCHING_ACTION
    shop.app.archive_action(shop.owner, signup)
    follow(shop.app, shop.model)
    assert shop.model.decide(shop.tag, "https://shop.example/x", signup).outcome \
        == NO_MATCHING_ACTION


def test_the_model_follows_removed_domains_changed_rules_and_archived_actions(
    shop: Shop
) -> None:
    buy = shop.action("Buy", ("contains", "/thanks"))
    shop.app.update_action(shop.owner, buy, {"rules": [{"match": "contains", "url": "/done"}]})
    follow(shop.app, shop.model)
    assert shop.model.decide(shop.tag, THANKS).outcome == NO_MATCHING_ACTION
    assert shop.model.decide(shop.tag, "https://shop.example/done").outcome == ACCEPTED

    shop.app.remove_domain(shop.owner, shop.tag, "shop.example")
    follow(shop.app, shop.model)
    assert shop.model.decide(shop.tag, "https://shop.example/done").outcome \
        == UNREGISTERED_DOMAIN


def test_the_debugger_verdict_is_the_domains_judgement_on_the_models_catalogue(
    shop: Shop
) -> None:
    shop.action("Buy", ("contains", "/thanks"))
    shop.action("Other", ("contains", "/other"))

    verdict = shop.model.judge_page(shop.tag, THANKS)
    expected = shop.app.debug_url(shop.owner, shop.tag, THANKS)

    assert verdict is not None
    assert [(str(v.action.id), v.fires, v.failed) for v in verdict.verdicts] \
        == [(str(v.action.id), v.fires, v.failed) for v in expected.verdicts]
    assert shop.model.judge_page("0b5c4a37-2f4e-4e0f-8d7c-9a1b2c3d4e5f", THANKS) is None


def test_an_event_applied_twice_shows_the_model_is_out_of_step(shop: Shop) -> None:
    shop.action("Buy", ("contains", "/thanks"))
    [last] = [n for n in shop.app.recorder.select_notifications(1, 10_000)
              if n.topic.startswith("convtrack:InsightTag.")][-1:]

    with pytest.raises(ModelOutOfStep):
        shop.model.apply(shop.app.mapper.to_domain_event(last), last.id)


def test_a_fire_converting_for_one_action_keeps_the_pages_event_id() -> None:
    assert conversion_event_ids("e1", ("a1",)) == (("a1", "e1"),)
    assert conversion_event_ids("e1", ("a1", "a2")) == (("a1", "e1:a1"), ("a2", "e1:a2"))


def test_a_fires_conversions_come_from_the_tag_with_its_member_click_and_value() -> None:
    fire = Fire(tag_id="t", event_id="e1", url=THANKS, received_at=NOW,
                conversions=(("a1", "e1"),), member_id="m1", click_id="c1",
                value=Money(500, "EUR"))

    [conversion] = to_conversions(fire)

    assert (conversion.event_id, conversion.action_id, conversion.member_id,
            conversion.click_id, conversion.occurred_at, conversion.value, conversion.source) \
        == ("e1", "a1", "m1", "c1", NOW, Money(500, "EUR"), "tag")
    assert conversion.payload["url"] == THANKS


class Sink:
    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.fires: list[Fire] = []

    async def publish(self, fire: Fire) -> bool:
        self.fires.append(fire)
        return self.ok


async def nothing() -> None:
    return None


def collector(shop: Shop, sink: Sink, admitted: bool = True) -> Collector:
    cookies = {"good-cookie": "member-1"}
    return Collector(shop.model, sink, lambda cookie, _: cookies.get(cookie or ""),
                     lambda _: admitted, nothing, clock=lambda: NOW)


async def test_the_collector_names_the_member_by_cookie_else_by_click_id(shop: Shop) -> None:
    buy = shop.action("Buy", ("contains", "/thanks"))
    sink = Sink()
    fire = FireIn(tag_id=shop.tag, url=THANKS, event_id="e1", click_id="click-9")

    by_cookie = await collector(shop, sink).collect(fire, CHROME, "good-cookie")
    by_click = await collector(shop, sink).collect(fire, CHROME, "tampered")
    nobody = await collector(shop, sink).collect(replace(fire, click_id=None), CHROME, None)

    assert (by_cookie.outcome, by_click.outcome, nobody.outcome) \
        == (ACCEPTED, ACCEPTED, UNKNOWN_MEMBER)
    assert by_cookie.tag_id == shop.tag and nobody.tag_id == shop.tag
    assert [(f.member_id, f.click_id, f.conversions) for f in sink.fires] \
        == [("member-1", "click-9", ((buy, "e1"),)), (None, "click-9", ((buy, "e1"),))]
    assert sink.fires[0].received_at == NOW


async def test_the_collector_drops_malformed_bot_limited_and_unconfirmed_fires(
    shop: Shop
) -> None:
    shop.action("Buy", ("contains", "/thanks"))
    fire = FireIn(tag_id=shop.tag, url=THANKS, event_id="e1")

    assert (await collector(shop, Sink()).collect(None, CHROME, "good-cookie")).outcome \
        == INVALID
    for bad in (replace(fire, event_id=""), replace(fire, event_id="x" * 129),
                replace(fire, url=""), replace(fire, value=Money(-1, "EUR")),
                replace(fire, value=Money(1, "EURO")), replace(fire, click_id="a\nb")):
        assert (await collector(shop, Sink()).collect(bad, CHROME, "good-cookie")).outcome \
            == INVALID, bad
    assert (await collector(shop, Sink()).collect(fire, "Googlebot/2.1", "good-cookie")
            ).outcome == BOT
    assert (await collector(shop, Sink(), admitted=False).collect(fire, CHROME, "good-cookie")
            ).outcome == RATE_LIMITED
    assert (await collector(shop, Sink(ok=False)).collect(fire, CHROME, "good-cookie")
            ).outcome == UNAVAILABLE
