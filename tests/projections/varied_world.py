"""A world with a bit of everything the attribution projection reads, for equivalence tests.

Both kinds of touch, conversions with and without values and click ids, every action setting
that matters (fractional models included), the same event id in two tags, status changes, spend, settings changes, opt-out
and in, late data, and fact times in offsets msgspec reads (+05:30, -03:00) and one it leaves to
the library's mapper (an offset with seconds).
"""

from __future__ import annotations

from datetime import timedelta, timezone

from application.access import Caller
from application.facts import ConversionIn
from domain.values import Money
from tests.projections.world import World, days

INDIA = timezone(timedelta(hours=5, minutes=30))
BRAZIL = timezone(timedelta(hours=-3))
ODD = timezone(timedelta(hours=1, minutes=2, seconds=3))


def build_varied_world(world: World) -> World:
    """Record the varied facts into `world` (in memory or on PostgreSQL); returns it."""
    c1, c2, c3 = world.campaign(), world.campaign(), world.campaign("paused")
    download = world.action([c1, c2])
    lead = world.action([c1, c2, c3], category="lead", attribution="last_touch_last_campaign",
                        counting="one")
    purchase = world.action([c2, c3], category="purchase", value_mode="dynamic",
                            value={"amount_minor": 500, "currency": "EUR"})
    other_tag = str(world.management.create_tag(world.owner, "other").id)
    elsewhere = str(world.management.create_action(world.owner, other_tag, {
        "name": "elsewhere", "category": "download", "campaign_ids": [c1]}).id)
    # Fractional models too (ADR 0035): purchases shared by time decay from the start, leads
    # switched from last campaign to position-based halfway (counting "one" spends shares).
    world.change_action(purchase, attribution="time_decay", campaign_ids=[c1, c2, c3])
    for i in range(9):
        if i == 5:
            world.change_action(lead, attribution="position_based")
        member = f"m{i % 4}"
        zone = (INDIA, BRAZIL, timezone.utc)[i % 3]
        world.impression(member, c1, (world.now - days(16 - i)).astimezone(zone))
        world.click(member, [c2, c3, c1][i % 3], (world.now - days(12 - i)).astimezone(zone))
        world.convert(member, download, (world.now - days(11 - i)).astimezone(zone))
        world.convert(member, purchase, world.now - days(10 - i),
                      Money(100 * i, "USD") if i % 2 else None)
        world.convert(member, lead, world.now - days(2 + i / 10))
        world.spend(c1, f"2026-01-0{1 + i % 3}", 1000 * i)
    same = world.convert("m1", download, world.now - days(1), event_id="shared-id")
    [result] = world.ingestion.record_conversions(world.owner, [ConversionIn(
        same, elsewhere, "m2", None, world.now - days(1), None, {"event_id": same})])
    assert result.status == "accepted", result
    clicked = world.click("m5", c1, world.now - days(3))
    [result] = world.ingestion.record_conversions(world.owner, [ConversionIn(
        "by-click", download, "m5", clicked, world.now - days(2), None, {})])
    assert result.status == "accepted", result
    world.impression("m6", c2, (world.now - days(4)).astimezone(ODD))
    world.convert("m6", download, world.now - days(3))
    world.change_action(download, click_window_days=7)
    world.set_status(c3, "active")
    world.set_status(c2, "paused")
    world.now += days(1 / 24)
    world.ingestion.opt_out(Caller.admin(), "m3")
    world.ingestion.opt_in(Caller.admin(), "m3")
    world.click("m3", c2, world.now - days(1 / 48))  # while paused
    world.convert("m3", download, world.now)
    world.impression("m0", c1, world.now - days(30))  # late, old
    world.click("m1", c3, world.now - days(5))  # late, re-attributes
    world.convert("m7", lead, world.now)  # no touches at all
    return world
