"""Privacy in ingestion: opt-out that no sender can observe, and click ids that resolve only
through the sender's own linked campaigns (docs/attribution.md: Privacy).

Run on the in-memory store and on PostgreSQL, with the world of test_ingestion.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.access import Caller
from application.errors import Forbidden
from application.facts import ConversionIn, ItemResult, TouchIn
from domain.values import Money
from tests.application.support import recorded_events, recorded_facts
from tests.application.test_ingestion import (  # noqa: F401  (world is a fixture)
    NOW,
    World,
    conversion,
    statuses,
    touch,
    world,
)


# --- opt-out and opt-in -------------------------------------------------------------------------

def test_an_opted_out_members_facts_are_accepted_and_not_recorded(
    world: World, admin: Caller
) -> None:
    world.ingestion.record_touches(admin, [touch("before", "m1", world.campaign)])
    world.ingestion.opt_out(admin, "m1")
    touches = world.ingestion.record_touches(admin, [touch("t1", "m1", world.campaign)])
    conversions = world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_1, "m1"),
        conversion("c2", world.action_1, click_id="before")])
    # The same answers as for anyone else: a sender cannot learn who opted out.
    assert statuses(touches + conversions) == ["accepted"] * 3
    assert recorded_facts(world.container, "m1") == [("ClickRecorded", "before")]
    assert [type(e).__name__ for e in recorded_events(world.container, "m1")][-1] == "OptedOut"


def test_repeats_about_an_opted_out_member_leave_nothing_in_the_duplicate_ledger(
    world: World, admin: Caller
) -> None:
    world.ingestion.record_touches(admin, [touch("before", "m1", world.campaign)])
    world.ingestion.opt_out(admin, "m1")
    again = world.ingestion.record_touches(admin, [touch("before", "m1", world.campaign),
                                                   touch("new", "m1", world.campaign),
                                                   touch("new", "m1", world.campaign)])
    # The answers are those anyone gets; the ledger keeps no copy of the member's payloads.
    assert statuses(again) == ["duplicate", "accepted", "duplicate"]
    assert world.ingestion.ledger.list_duplicates("touch", "before") == []
    assert world.ingestion.ledger.list_duplicates("touch", "new") == []


def test_a_repeat_naming_an_unknown_member_starts_no_timeline(world: World) -> None:
    world.ingestion.record_conversions(world.owner, [conversion("c1", world.action_1, "m1")])
    again = world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_1, "somebody-else")])
    assert statuses(again) == ["duplicate"]
    assert recorded_events(world.container, "somebody-else") == []
    assert len(world.ingestion.ledger.list_duplicates(f"conversion:{world.tag_1}", "c1")) == 1


def test_a_fact_sent_while_opted_out_stays_unrecorded_after_opting_in(
    world: World, admin: Caller
) -> None:
    world.ingestion.opt_out(admin, "m1")
    world.ingestion.record_touches(admin, [touch("t1", "m1", world.campaign)])
    world.ingestion.opt_in(admin, "m1")
    # The first copy counts, as for anyone: a re-send is a duplicate, and consent is the one
    # in force when the fact was sent, so t1 is never recorded.
    results = world.ingestion.record_touches(admin, [touch("t1", "m1", world.campaign),
                                                     touch("t2", "m1", world.campaign)])
    assert statuses(results) == ["duplicate", "accepted"]
    assert recorded_facts(world.container, "m1") == [("ClickRecorded", "t2")]


def answers(results: list[ItemResult]) -> list[tuple[str, str | None, str | None]]:
    return [(r.status, r.field, r.reason) for r in results]


def test_every_answer_about_an_opted_out_member_is_the_one_anyone_gets(
    world: World, admin: Caller
) -> None:
    world.ingestion.opt_out(admin, "quiet")
    seen: dict[str, list[list[tuple[str, str | None, str | None]]]] = {}
    for member in ("quiet", "loud"):
        def send_touches(*items: TouchIn) -> list[tuple[str, str | None, str | None]]:
            return answers(world.ingestion.record_touches(admin, list(items)))

        def send(*items: ConversionIn) -> list[tuple[str, str | None, str | None]]:
            return answers(world.ingestion.record_conversions(world.owner, list(items)))

        seen[member] = [
            send_touches(touch(f"{member}-k", member, world.campaign),
                         touch(f"{member}-k", member, world.campaign),
                         touch(f"{member}-bad", member, "no-such-campaign"),
                         touch(f"{member}-late", member, world.campaign,
                               occurred_at=NOW + timedelta(days=30))),
            send_touches(touch(f"{member}-k", member, world.campaign)),
            send(conversion(f"{member}-c", world.action_1, member),
                 conversion(f"{member}-c", world.action_1, member),
                 conversion(f"{member}-by-click", world.action_1, click_id=f"{member}-k"),
                 conversion(f"{member}-bad-value", world.action_1, member,
                            value=Money(-5, "USD"))),
            send(conversion(f"{member}-c", world.action_1, member),
                 conversion(f"{member}-by-click", world.action_1, click_id=f"{member}-k")),
        ]
    assert seen["quiet"] == seen["loud"]
    assert recorded_facts(world.container, "quiet") == []


def test_nothing_about_an_opted_out_member_is_kept_among_dead_letters_or_duplicates(
    world: World, admin: Caller
) -> None:
    world.ingestion.opt_out(admin, "quiet")
    world.ingestion.record_touches(admin, [touch("k1", "quiet", world.campaign),
                                           touch("k1", "quiet", world.campaign),
                                           touch("bad", "quiet", "no-such-campaign")])
    world.ingestion.record_conversions(world.owner, [
        conversion("c1", world.action_1, click_id="k1"),
        conversion("c1", world.action_1, click_id="k1"),
        conversion("c2", world.action_1, click_id="k1", value=Money(-5, "USD")),
        conversion("c3", world.action_1, "quiet", value=Money(-5, "USD"))])
    ledger = world.ingestion.ledger
    assert "quiet" not in repr(ledger.list_dead_letters(1000))
    assert "k1" not in repr(ledger.list_dead_letters(1000))
    assert ledger.list_duplicates("touch", "k1") == []
    assert ledger.list_duplicates(f"conversion:{world.tag_1}", "c1") == []


# --- click ids across advertisers -----------------------------------------------------------

def test_a_click_id_resolves_only_through_a_campaign_the_action_links(
    world: World, admin: Caller
) -> None:
    app = world.container.management
    other = Caller.account(str(app.create_account(admin, "Other").account.id))
    other_tag = str(app.create_tag(other, "theirs").id)
    other_campaign = str(app.create_campaign(other, "O", "text_ad", "active").id)
    other_action = str(app.create_action(other, other_tag, {
        "name": "o", "category": "purchase", "campaign_ids": [other_campaign]}).id)
    world.ingestion.record_touches(admin, [touch("theirs", "m1", world.campaign),
                                           touch("ours", "m2", other_campaign)])
    results = world.ingestion.record_conversions(other, [
        conversion("c1", other_action, click_id="theirs"),
        conversion("c2", other_action, click_id="never-seen"),
        conversion("c3", other_action, click_id="ours")])
    # Another advertiser's click is answered exactly as a click never recorded.
    assert [(r.status, r.field, r.reason, r.detail) for r in results[:2]] == [
        ("rejected", "click_id", "unknown_click_id", "no click 'theirs' was recorded"),
        ("rejected", "click_id", "unknown_click_id", "no click 'never-seen' was recorded")]
    assert statuses(results[2:]) == ["accepted"]
    assert recorded_facts(world.container, "m1") == [("ClickRecorded", "theirs")]


def test_opt_out_of_a_member_never_seen_holds_for_their_first_facts(
    world: World, admin: Caller
) -> None:
    timeline = world.ingestion.opt_out(admin, "new-member")
    assert timeline.opted_out
    world.ingestion.record_touches(admin, [touch("t1", "new-member", world.campaign)])
    assert recorded_facts(world.container, "new-member") == []


def test_consent_changes_twice_record_one_event_each_and_need_the_admin_token(
    world: World, admin: Caller
) -> None:
    world.ingestion.opt_out(admin, "m1")
    world.ingestion.opt_out(admin, "m1")
    world.ingestion.opt_in(admin, "m1")
    world.ingestion.opt_in(admin, "m1")
    names = [type(e).__name__ for e in recorded_events(world.container, "m1")]
    assert names == ["Created", "OptedOut", "OptedIn"]
    with pytest.raises(Forbidden):
        world.ingestion.opt_out(world.owner, "m1")


def test_a_member_timeline_is_found_only_once_something_was_recorded(
    world: World, admin: Caller
) -> None:
    assert world.ingestion.find_timeline("m1") is None
    world.ingestion.record_touches(admin, [touch("t1", "m1", world.campaign)])
    found = world.ingestion.find_timeline("m1")
    assert found is not None and not found.opted_out
