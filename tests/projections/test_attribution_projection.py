"""The attribution projection on in-memory views: events and tracking in, attributed conversions out."""

from __future__ import annotations

from typing import Any

from adapters.read_side.catch_up import catch_up, read_envelopes
from domain.values import Money
from projections.attribution.projection import AttributionProjection
from projections.attribution.records import ConversionRecord
from projections.memory_views import InMemoryAttributionView
from tests.projections.world import World, days


def project(world: World, view: InMemoryAttributionView | None = None,
            batch_size: int = 1000, management_first: bool = True) -> InMemoryAttributionView:
    view = view or InMemoryAttributionView()
    catch_up(AttributionProjection(view), world.sources(management_first), batch_size)
    return view


def conversion(view: InMemoryAttributionView, event_id: str) -> ConversionRecord:
    [found] = [c for c in view.conversions.values() if c.event_id == event_id]
    return found


def credited(view: InMemoryAttributionView, event_id: str) -> list[tuple[str, str, str]]:
    record = conversion(view, event_id)
    return [(c.campaign_id, c.kind, c.touch_event_id) for c in record.outcome.credits]


def snapshot(view: InMemoryAttributionView) -> dict[Any, Any]:
    return {
        "conversions": {k: (c.outcome, c.rules, c.category, c.member_id)
                        for k, c in view.conversions.items()},
        "credits": {k: sorted(rows, key=lambda r: r.campaign_id)
                    for k, rows in view.credits.items()},
        "touches": {k: sorted(ts, key=lambda t: t.seq) for k, ts in view.touches.items()},
        "spend": dict(view.spend), "campaigns": dict(view.campaigns),
        "actions": dict(view.actions), "positions": dict(view.positions),
    }


def test_the_classic_timeline_credits_the_click_and_deduplicates_the_second_conversion() -> None:
    world = World.in_memory()
    c1 = world.campaign()
    action = world.action([c1])
    now = world.now
    world.impression("m1", c1, now - days(40))
    world.impression("m1", c1, now - days(20))
    click = world.click("m1", c1, now - days(10))
    world.impression("m1", c1, now - days(3))
    first = world.convert("m1", action, now - days(1))
    second = world.convert("m1", action, now - days(1) + days(1 / 24))
    view = project(world)
    assert credited(view, first) == [(c1, "post_click", click)]
    assert conversion(view, second).outcome.status == "deduplicated"


def test_each_campaign_credits_every_campaign_and_last_campaign_only_the_click() -> None:
    world = World.in_memory()
    c1, c2 = world.campaign(), world.campaign()
    each = world.action([c1, c2])
    last = world.action([c1, c2], attribution="last_touch_last_campaign")
    click = world.click("m1", c1, world.now - days(5))
    seen = world.impression("m1", c2, world.now - days(1))
    x_each = world.convert("m1", each, world.now)
    x_last = world.convert("m1", last, world.now)
    view = project(world)
    assert sorted(credited(view, x_each)) == sorted([(c1, "post_click", click),
                                                     (c2, "post_view", seen)])
    assert credited(view, x_last) == [(c1, "post_click", click)]


def test_purchases_count_each_and_carry_their_own_values() -> None:
    world = World.in_memory()
    c1 = world.campaign()
    purchase = world.action([c1], category="purchase")
    world.click("m1", c1, world.now - days(3))
    a = world.convert("m1", purchase, world.now - days(1), Money(10000, "USD"))
    b = world.convert("m1", purchase, world.now, Money(5000, "USD"))
    view = project(world)
    assert [conversion(view, x).outcome.status for x in (a, b)] == ["attributed", "attributed"]
    assert sum(r.value_minor or 0 for r in view.all_credits()) == 15000


def test_a_conversion_without_touches_is_kept_unattributed_with_its_value() -> None:
    world = World.in_memory()
    action = world.action([world.campaign()], value_mode="fixed",
                          value={"amount_minor": 500, "currency": "EUR"})
    x = world.convert("m1", action, world.now)
    view = project(world)
    record = conversion(view, x)
    assert (record.outcome.status, record.outcome.value) == ("unattributed", Money(500, "EUR"))
    assert view.all_credits() == []


def test_a_touch_while_the_campaign_was_paused_never_counts_but_pausing_later_keeps_credit(
) -> None:
    world = World.in_memory()
    kept, paused = world.campaign(), world.campaign()
    action = world.action([kept, paused], attribution="last_touch_each_campaign")
    click = world.click("m1", kept, world.now - days(2))
    world.set_status(kept, "paused")
    world.set_status(paused, "paused")
    world.now += days(1 / 24)
    world.click("m1", paused, world.now - days(1 / 48))
    x = world.convert("m1", action, world.now)
    view = project(world)
    assert credited(view, x) == [(kept, "post_click", click)]


def test_a_late_touch_re_attributes_the_conversion_and_moves_its_credits() -> None:
    world = World.in_memory()
    c1, c2 = world.campaign(), world.campaign()
    action = world.action([c1, c2], attribution="last_touch_last_campaign")
    world.impression("m1", c1, world.now - days(1))
    x = world.convert("m1", action, world.now)
    view = project(world)
    assert [r.campaign_id for r in view.credits[conversion(view, x).key]] == [c1]
    late = world.click("m1", c2, world.now - days(3))
    project(world, view)
    assert credited(view, x) == [(c2, "post_click", late)]
    assert [r.campaign_id for r in view.credits[conversion(view, x).key]] == [c2]


def test_a_late_touch_turns_an_unattributed_conversion_into_an_attributed_one() -> None:
    world = World.in_memory()
    c1 = world.campaign()
    action = world.action([c1])
    x = world.convert("m1", action, world.now)
    view = project(world)
    assert conversion(view, x).outcome.status == "unattributed"
    world.click("m1", c1, world.now - days(1))
    project(world, view)
    assert conversion(view, x).outcome.status == "attributed"


def test_the_same_batch_delivered_twice_changes_nothing() -> None:
    world = World.in_memory()
    c1 = world.campaign()
    action = world.action([c1])
    world.click("m1", c1, world.now - days(1))
    world.convert("m1", action, world.now)
    view = InMemoryAttributionView()
    projection = AttributionProjection(view)
    batches = [read_envelopes(name, app, 0, 1000) for name, app in world.sources().items()]
    for batch in batches:
        projection.process_batch(batch)
    before = snapshot(view)
    for batch in batches:
        projection.process_batch(batch)
    assert snapshot(view) == before


def busy_world() -> World:
    world = World.in_memory()
    c1, c2, c3 = world.campaign(), world.campaign(), world.campaign()
    download = world.action([c1, c2])
    last = world.action([c1, c2, c3], category="lead", attribution="last_touch_last_campaign")
    purchase = world.action([c2, c3], category="purchase")
    for i in range(6):
        member = f"m{i % 3}"
        world.impression(member, c1, world.now - days(16 - i))
        world.convert(member, download, world.now - days(15 - i))
        world.click(member, [c2, c3][i % 2], world.now - days(17 - i))
        world.convert(member, purchase, world.now - days(14 - i), Money(100 * i, "USD"))
        world.convert(member, last, world.now - days(2 + i / 10))
        world.spend(c1, f"2026-01-0{1 + i % 3}", 1000 * i)
    world.click("m0", c3, world.now - days(30))  # late, old data
    world.set_status(c2, "paused")
    world.now += days(1 / 24)
    world.click("m1", c2, world.now - days(1 / 48))  # while paused
    world.convert("m1", download, world.now)
    return world


def test_any_batch_split_gives_the_same_result() -> None:
    world = busy_world()
    assert snapshot(project(world, batch_size=1))["conversions"] == \
        snapshot(project(world, batch_size=7))["conversions"] == \
        snapshot(project(world))["conversions"]


def test_a_rebuild_from_scratch_equals_the_live_result() -> None:
    world = World.in_memory()
    live = InMemoryAttributionView()
    c1, c2 = world.campaign(), world.campaign()
    action = world.action([c1, c2])
    for i in range(5):
        world.click(f"m{i % 2}", [c1, c2][i % 2], world.now - days(5 - i))
        project(world, live)  # the live projection follows each write
        world.convert(f"m{i % 2}", action, world.now - days(4.5 - i))
        project(world, live)
    world.impression("m0", c2, world.now - days(9))  # late data
    project(world, live)
    rebuilt = project(world)
    assert snapshot(rebuilt) == snapshot(live)


def test_catalogue_events_arriving_after_the_facts_give_the_in_order_result() -> None:
    world = busy_world()
    in_order = project(world)
    facts_first = project(world, management_first=False)
    # ingestion first: conversions wait for their action's settings, campaigns for their status
    assert snapshot(facts_first)["conversions"] == snapshot(in_order)["conversions"]


def test_a_conversion_keeps_the_settings_it_was_first_processed_under() -> None:
    world = World.in_memory()
    c1 = world.campaign()
    action = world.action([c1], click_window_days=30)
    x = world.convert("m1", action, world.now)
    view = project(world)
    world.change_action(action, click_window_days=1)
    y = world.convert("m2", action, world.now)
    world.click("m1", c1, world.now - days(5))  # late, inside the window x was processed under
    world.click("m2", c1, world.now - days(5))
    project(world, view)
    assert conversion(view, x).outcome.status == "attributed"
    assert conversion(view, y).outcome.status == "unattributed"
    assert conversion(view, y).rules is not None and conversion(view, y).rules.click_window_days == 1


def test_spend_keeps_the_last_record_of_a_day() -> None:
    world = World.in_memory()
    c1 = world.campaign()
    world.spend(c1, "2026-01-01", 100)
    world.spend(c1, "2026-01-01", 250)
    world.spend(c1, "2026-01-02", 50)
    view = project(world)
    assert view.spend == {(c1, "2026-01-01"): (250, "USD"), (c1, "2026-01-02"): (50, "USD")}


def test_the_same_event_id_in_two_tags_is_two_conversions() -> None:
    world = World.in_memory()
    c1 = world.campaign()
    first_tag, first = world.tag_id, world.action([c1])
    world.tag_id = str(world.management.create_tag(world.owner, "blog").id)
    second = world.action([c1])
    world.click("m1", c1, world.now - days(1))
    world.convert("m1", first, world.now, event_id="same")
    world.convert("m1", second, world.now, event_id="same")
    view = project(world)
    assert set(view.conversions) == {(first_tag, "same"), (world.tag_id, "same")}
    assert all(c.outcome.status == "attributed" for c in view.conversions.values())


def test_a_parked_event_is_kept_with_its_error_and_tracking_moves_past_it() -> None:
    world = World.in_memory()
    world.campaign()
    view = InMemoryAttributionView()
    projection = AttributionProjection(view)
    [first, *_] = read_envelopes("management", world.management, 0, 10)
    projection.park(first, "boom", 3)
    [parked] = projection.list_parked()
    assert (parked.position, parked.error, parked.attempts) == (first.position, "boom", 3)
    assert projection.tracked_positions()["management"] == first.position


def test_a_first_conversion_in_a_later_batch_is_weighed_against_earlier_touches() -> None:
    # Regression: the recompute once loaded stored facts only for members that already had a
    # conversion, so a member's first conversion saw none of the touches of earlier batches.
    world = World.in_memory()
    c1 = world.campaign()
    action = world.action([c1])
    click = world.click("m1", c1, world.now - days(3))
    live = project(world)
    first = world.convert("m1", action, world.now - days(1))
    project(world, live)
    assert credited(live, first) == [(c1, "post_click", click)]
