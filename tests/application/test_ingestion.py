"""The ingestion application, on the in-memory store and on PostgreSQL (see conftest.py):
idempotency and its scopes, concurrency, opt-out, click ids, rejections and dead letters."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.bootstrap import Container
from application.access import Caller
from application.errors import Forbidden
from application.facts import ConversionIn, ItemResult, TouchIn, Undecodable
from application.ingestion import IngestionApp
from domain.values import Money
from tests.application.support import recorded_events, recorded_facts

# Fixed at import: the cases keep margins of hours or days from every limit, so a long suite
# cannot move one across (the exact limits are tested in tests/domain/test_validation.py).
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class World:
    """An advertiser with two tags, a campaign, and actions on both tags."""

    container: Container
    owner: Caller
    viewer: Caller
    tag_1: str
    tag_2: str
    campaign: str
    action_1: str  # on tag 1
    action_1b: str  # also on tag 1
    action_2: str  # on tag 2

    @property
    def ingestion(self) -> IngestionApp:
        return self.container.ingestion


@pytest.fixture
def world(container: Container, admin: Caller) -> World:
    return make_world(container, admin)


def make_world(container: Container, admin: Caller) -> World:
    """An advertiser with two tags, a campaign and three actions, on the container's store."""
    app = container.management
    owner = Caller.account(str(app.create_account(admin, "Owner").account.id))
    viewer = Caller.account(str(app.create_account(admin, "Viewer").account.id))
    tag_1 = str(app.create_tag(owner, "one").id)
    tag_2 = str(app.create_tag(owner, "two").id)
    app.grant_access(owner, tag_1, viewer.account_id or "", "viewer")
    campaign = str(app.create_campaign(owner, "C", "text_ad", "active").id)

    def action(tag_id: str, name: str) -> str:
        return str(app.create_action(owner, tag_id, {
            "name": name, "category": "purchase", "campaign_ids": [campaign]}).id)

    return World(container, owner, viewer, tag_1, tag_2, campaign, action(tag_1, "a1"),
                 action(tag_1, "a1b"), action(tag_2, "a2"))


def touch(event_id: str, member_id: str, campaign_id: str, kind: str = "click",
          occurred_at: datetime | None = None) -> TouchIn:
    payload = {"event_id": event_id, "member_id": member_id, "kind": kind,
               "campaign_id": campaign_id}
    return TouchIn(event_id, member_id, kind, campaign_id, occurred_at or NOW - timedelta(days=1),
                   payload)


def conversion(event_id: str, action_id: str, member_id: str | None = None,
               click_id: str | None = None, occurred_at: datetime | None = None,
               value: Money | None = None) -> ConversionIn:
    payload: dict[str, Any] = {"event_id": event_id, "action_id": action_id,
                               "member_id": member_id, "click_id": click_id}
    return ConversionIn(event_id, action_id, member_id, click_id, occurred_at or NOW, value,
                        payload)


def statuses(results: list[ItemResult]) -> list[str]:
    return [r.status for r in results]


def rejection(result: ItemResult) -> tuple[str, str | None, str | None]:
    return result.status, result.field, result.reason


# --- touches ----------------------------------------------------------------------------------

def test_touches_are_recorded_on_their_members_timelines(world: World, admin: Caller) -> None:
    results = world.ingestion.record_touches(admin, [
        touch("t1", "m1", world.campaign, "click"),
        touch("t2", "m1", world.campaign, "impression"),
        touch("t3", "m2", world.campaign, "impression")])
    assert statuses(results) == ["accepted"] * 3
    assert [r.event_id for r in results] == ["t1", "t2", "t3"]
    assert recorded_facts(world.container, "m1") == [("ClickRecorded", "t1"),
                                                     ("ImpressionRecorded", "t2")]
    assert recorded_facts(world.container, "m2") == [("ImpressionRecorded", "t3")]


def test_a_touch_keeps_when_it_occurred_and_who_sent_it(world: World, admin: Caller) -> None:
    occurred = NOW - timedelta(days=399)  # back-filled close to the limit
    world.ingestion.record_touches(admin, [touch("t1", "m1", world.campaign, "click", occurred)])
    click = recorded_events(world.container, "m1")[-1]
    assert (click.occurred_at, click.actor, click.campaign_id) == (occurred, "admin",
                                                                   world.campaign)
    assert click.timestamp >= NOW  # the time recorded


def test_only_the_admin_token_sends_touches(world: World) -> None:
    with pytest.raises(Forbidden):
        world.ingestion.record_touches(world.owner, [touch("t1", "m1", world.campaign)])
    assert recorded_facts(world.container, "m1") == []


def test_a_touch_event_id_is_unique_across_all_members_and_campaigns(
    world: World, admin: Caller
) -> None:
    world.ingestion.record_touches(admin, [touch("t1", "m1", world.campaign)])
    again = world.ingestion.record_touches(admin, [touch("t1", "m2", world.campaign, "impression")])
    assert statuses(again) == ["duplicate"]
    assert (again[0].reason, again[0].field) == ("duplicate_event_id", "event_id")
    assert recorded_facts(world.container, "m2") == []
    assert recorded_facts(world.container, "m1") == [("ClickRecorded", "t1")]


def test_a_repeat_within_one_batch_is_a_duplicate(world: World, admin: Caller) -> None:
    results = world.ingestion.record_touches(admin, [
        touch("t1", "m1", world.campaign), touch("t2", "m1", world.campaign),
        touch("t1", "m1", world.campaign)])
    assert statuses(results) == ["accepted", "accepted", "duplicate"]
    assert recorded_facts(world.container, "m1") == [("ClickRecorded", "t1"),
                                                     ("ClickRecorded", "t2")]
    assert len(world.ingestion.ledger.list_duplicates("touch", "t1")) == 1


@pytest.mark.parametrize(("item", "field", "reason"), [
    (touch("t1", "m1", "00000000-0000-0000-0000-000000000000"), "campaign_id",
     "unknown_campaign"),
    (touch("t1", "m1", "not-a-campaign-id"), "campaign_id", "unknown_campaign"),
    (touch("t1", "m1", "{campaign}", occurred_at=NOW - timedelta(days=401)), "occurred_at",
     "too_old"),
    (touch("t1", "m1", "{campaign}", occurred_at=NOW + timedelta(hours=2)), "occurred_at",
     "occurred_in_future"),
    (touch("t1", "m1", "{campaign}", occurred_at=datetime(2026, 1, 1)), "occurred_at",
     "missing_offset"),
    (touch("t1", "m1", "{campaign}", kind="view"), "kind", "not_allowed"),
    (touch("t1", " ", "{campaign}"), "member_id", "empty"),
    (touch("", "m1", "{campaign}"), "event_id", "empty"),
    (touch("t1", "m" * 201, "{campaign}"), "member_id", "too_long"),
], ids=["unknown-campaign", "malformed-campaign", "too-old", "future", "naive-time",
        "bad-kind", "blank-member", "empty-event-id", "long-member"])
def test_a_bad_touch_is_rejected_alone_and_kept_as_a_dead_letter(
    world: World, admin: Caller, item: TouchIn, field: str, reason: str
) -> None:
    if item.campaign_id == "{campaign}":
        item = TouchIn(item.event_id, item.member_id, item.kind, world.campaign,
                       item.occurred_at, item.payload)
    results = world.ingestion.record_touches(admin, [touch("ok-1", "m9", world.campaign), item,
                                                     touch("ok-2", "m9", world.campaign)])
    assert statuses(results) == ["accepted", "rejected", "accepted"]
    assert rejection(results[1]) == ("rejected", field, reason)
    assert results[1].detail
    assert recorded_facts(world.container, "m9") == [("ClickRecorded", "ok-1"),
                                                     ("ClickRecorded", "ok-2")]
    (dead,) = world.ingestion.ledger.list_dead_letters()
    assert (dead.kind, dead.field, dead.reason, dead.actor) == ("touch", field, reason, "admin")
    assert dead.payload == item.payload
    assert dead.event_id == (item.event_id or None)


# --- conversions: scope of event ids ------------------------------------------------------------

def test_the_same_conversion_event_id_on_two_tags_is_two_conversions(world: World) -> None:
    first = world.ingestion.record_conversions(world.owner, [conversion("c1", world.action_1, "m1")])
    second = world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_2, "m1")])
    assert statuses(first + second) == ["accepted", "accepted"]
    assert recorded_facts(world.container, "m1") == [("ConversionRecorded", "c1")] * 2


def test_the_same_event_id_on_another_action_of_the_same_tag_is_a_duplicate(world: World) -> None:
    world.ingestion.record_conversions(world.owner, [conversion("c1", world.action_1, "m1")])
    again = world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_1b, "m1")])
    assert statuses(again) == ["duplicate"]
    assert recorded_facts(world.container, "m1") == [("ConversionRecorded", "c1")]


def test_a_conversion_is_a_duplicate_whether_it_names_the_member_or_the_click(
    world: World, admin: Caller
) -> None:
    world.ingestion.record_touches(admin, [touch("click-1", "m1", world.campaign)])
    by_click = world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_1, click_id="click-1")])
    by_member = world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_1, member_id="m1")])
    # ... and even a copy naming another member: the tag already has this event_id.
    by_other = world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_1b, member_id="m2")])
    assert statuses(by_click + by_member + by_other) == ["accepted", "duplicate", "duplicate"]
    assert recorded_facts(world.container, "m1") == [("ClickRecorded", "click-1"),
                                                     ("ConversionRecorded", "c1")]
    assert recorded_facts(world.container, "m2") == []


def test_duplicates_are_kept_in_the_ledger_with_their_source_and_payload(world: World) -> None:
    world.ingestion.record_conversions(world.owner, [conversion("c1", world.action_1, "m1")])
    world.ingestion.record_conversions(world.owner, [conversion("c1", world.action_1, "m1"),
                                                     conversion("c1", world.action_1b, "m1")])
    entries = world.ingestion.ledger.list_duplicates(f"conversion:{world.tag_1}", "c1")
    assert [(e.source, e.payload["action_id"]) for e in entries] == [
        ("api", world.action_1), ("api", world.action_1b)]
    assert all(e.received_at.tzinfo is not None for e in entries)
    assert world.ingestion.ledger.list_duplicates(f"conversion:{world.tag_2}", "c1") == []


def test_a_touch_and_a_conversion_may_share_an_event_id(world: World, admin: Caller) -> None:
    touches = world.ingestion.record_touches(admin, [touch("x", "m1", world.campaign)])
    conversions = world.ingestion.record_conversions(world.owner, [
        conversion("x", world.action_1, "m1")])
    assert statuses(touches + conversions) == ["accepted", "accepted"]


def test_a_conversion_records_its_tag_value_and_source(world: World) -> None:
    world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_1, "m1", value=Money(1_999, "EUR"))])
    recorded = recorded_events(world.container, "m1")[-1]
    assert (recorded.action_id, recorded.tag_id, recorded.source) == (
        world.action_1, world.tag_1, "api")
    assert recorded.value == {"amount_minor": 1_999, "currency": "EUR"}
    assert recorded.actor == world.owner.actor


# --- conversions: click ids and members -------------------------------------------------------

def test_a_click_id_resolves_to_the_member_who_clicked(world: World, admin: Caller) -> None:
    world.ingestion.record_touches(admin, [touch("click-9", "m-clicker", world.campaign)])
    results = world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_1, click_id="click-9")])
    assert statuses(results) == ["accepted"]
    recorded = recorded_events(world.container, "m-clicker")[-1]
    assert (recorded.event_id, recorded.click_id) == ("c1", "click-9")


@pytest.mark.parametrize(("click_id", "member_id", "field", "reason"), [
    ("never-seen", None, "click_id", "unknown_click_id"),
    ("an-impression", None, "click_id", "unknown_click_id"),  # only clicks have click ids
    (None, None, "member_id", "missing_member"),
    (None, "", "member_id", "empty"),
])
def test_a_conversion_without_a_known_member_is_rejected(
    world: World, admin: Caller, click_id: str | None, member_id: str | None, field: str,
    reason: str,
) -> None:
    world.ingestion.record_touches(admin, [
        touch("an-impression", "m1", world.campaign, "impression")])
    results = world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_1, member_id=member_id, click_id=click_id),
        conversion("c2", world.action_1, member_id="m1")])
    assert rejection(results[0]) == ("rejected", field, reason)
    assert statuses(results)[1] == "accepted"


# --- conversions: rejections ------------------------------------------------------------------

def test_bad_conversions_are_rejected_alone_naming_field_and_reason(world: World) -> None:
    app = world.container.management
    archived = str(app.create_action(world.owner, world.tag_1, {"name": "x", "category": "lead"}).id)
    app.archive_action(world.owner, archived)
    disabled = str(app.create_action(world.owner, world.tag_1, {
        "name": "y", "category": "lead", "enabled": False}).id)
    cases = [
        (conversion("r1", "00000000-0000-0000-0000-000000000000", "m1"), "action_id",
         "unknown_action"),
        (conversion("r2", "nope", "m1"), "action_id", "unknown_action"),
        (conversion("r3", archived, "m1"), "action_id", "action_archived"),
        (conversion("r4", disabled, "m1"), "action_id", "action_disabled"),
        (conversion("r5", world.action_1, "m1", occurred_at=NOW - timedelta(days=91)),
         "occurred_at", "too_old"),
        (conversion("r6", world.action_1, "m1", occurred_at=NOW + timedelta(hours=2)),
         "occurred_at", "occurred_in_future"),
        (conversion("r7", world.action_1, "m1", value=Money(-1, "USD")), "value.amount_minor",
         "negative_amount"),
        (conversion("r8", world.action_1, "m1", value=Money(1, "usd")), "value.currency",
         "invalid_currency"),
        (conversion("r9", world.action_1, "m1", value=Money(1, "QQQ")), "value.currency",
         "unknown_currency"),
        (conversion("", world.action_1, "m1"), "event_id", "empty"),
    ]
    items = [conversion("ok-1", world.action_1, "m1")] + [c for c, _, _ in cases] + [
        conversion("ok-2", world.action_2, "m1")]
    results = world.ingestion.record_conversions(world.owner, items)
    assert statuses(results) == ["accepted"] + ["rejected"] * len(cases) + ["accepted"]
    assert [rejection(r) for r in results[1:-1]] == [
        ("rejected", field, reason) for _, field, reason in cases]
    assert recorded_facts(world.container, "m1") == [("ConversionRecorded", "ok-1"),
                                                     ("ConversionRecorded", "ok-2")]
    dead = world.ingestion.ledger.list_dead_letters()[::-1]  # oldest first
    assert [(d.kind, d.field, d.reason) for d in dead] == [
        ("conversion", field, reason) for _, field, reason in cases]
    assert [d.payload for d in dead] == [c.payload for c, _, _ in cases]


def test_a_conversion_for_a_tag_the_caller_cannot_see_is_an_unknown_action(
    world: World, admin: Caller
) -> None:
    stranger = Caller.account(str(world.container.management.create_account(
        admin, "Stranger").account.id))
    (result,) = world.ingestion.record_conversions(stranger, [
        conversion("c1", world.action_1, "m1")])
    assert rejection(result) == ("rejected", "action_id", "unknown_action")


def test_a_viewer_may_not_send_conversions(world: World) -> None:
    (result,) = world.ingestion.record_conversions(world.viewer, [
        conversion("c1", world.action_1, "m1")])
    assert rejection(result) == ("rejected", "action_id", "forbidden")
    assert recorded_facts(world.container, "m1") == []


def test_an_item_the_adapter_could_not_decode_is_answered_and_kept(
    world: World, admin: Caller
) -> None:
    bad = Undecodable(None, "kind", "invalid_value", "Expected `str`", {"kind": 5})
    results = world.ingestion.record_touches(admin, [bad, touch("t1", "m1", world.campaign)])
    assert statuses(results) == ["rejected", "accepted"]
    (dead,) = world.ingestion.ledger.list_dead_letters()
    assert (dead.field, dead.reason, dead.payload) == ("kind", "invalid_value", {"kind": 5})


def test_dead_letters_are_kept_even_when_nothing_in_the_batch_is_valid(
    world: World, admin: Caller
) -> None:
    results = world.ingestion.record_touches(admin, [
        touch("t1", "m1", "nope"), Undecodable(None, None, "not_an_object", "Expected", 42)])
    assert statuses(results) == ["rejected", "rejected"]
    dead = world.ingestion.ledger.list_dead_letters()
    assert [d.payload for d in dead][::-1] == [touch("t1", "m1", "nope").payload, 42]


# --- concurrency ------------------------------------------------------------------------------

def run_at_once(*batches: list[Any], sender: Any) -> list[list[ItemResult]]:
    """Send the batches from one thread each, released together."""
    barrier = threading.Barrier(len(batches))
    results: list[list[ItemResult]] = [[] for _ in batches]
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            barrier.wait()
            results[i] = sender(batches[i])
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_the_same_batch_sent_twice_at_once_records_each_fact_once(
    world: World, admin: Caller
) -> None:
    batch = [touch(f"t{i}", f"m{i % 7}", world.campaign) for i in range(60)]
    first, second = run_at_once(batch, batch,
                                sender=lambda b: world.ingestion.record_touches(admin, b))
    for one, other in zip(first, second, strict=True):
        assert sorted([one.status, other.status]) == ["accepted", "duplicate"]
    recorded = [f for m in range(7) for f in recorded_facts(world.container, f"m{m}")]
    assert sorted(e for _, e in recorded) == sorted(f"t{i}" for i in range(60))


def test_overlapping_batches_in_opposite_orders_record_each_fact_once(
    world: World, admin: Caller
) -> None:
    # Opposite orders lock the same keys in opposite orders: a deadlock must end in a retry.
    items = [conversion(f"c{i}", world.action_1, f"m{i % 5}") for i in range(40)]
    first, second = run_at_once(items[:30], items[10:][::-1],
                                sender=lambda b: world.ingestion.record_conversions(world.owner, b))
    answers: dict[str, list[str]] = {}
    for result in first + second:
        answers.setdefault(result.event_id or "", []).append(result.status)
    assert all(a.count("accepted") == 1 for a in answers.values()), answers
    recorded = [f for m in range(5) for f in recorded_facts(world.container, f"m{m}")]
    assert sorted(e for _, e in recorded) == sorted(f"c{i}" for i in range(40))
