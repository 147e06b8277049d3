"""One entry point attributes a member's recorded conversions, for the projection and the
explanation alike (docs/attribution.md: the result depends on the facts only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.attribution import (
    ActionRules,
    CampaignStatusHistory,
    Conversion,
    Touch,
    attribute_member,
)
from domain.member_attribution import attribute_recorded
from domain.values import Money

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACTIVE = CampaignStatusHistory({"C1": [(T0 - timedelta(days=100), "active")]})
ONE = ActionRules("a1", 30, 7, "one", "last_touch_each_campaign", frozenset({"C1"}),
                  "dynamic", None)


@dataclass(frozen=True)
class Recorded:
    """A recorded conversion as a read model keeps it (only what attribution needs)."""

    tag_id: str
    event_id: str
    action_id: str
    occurred_at: datetime
    seq: int
    own_value: Money | None = None
    rules: ActionRules | None = ONE


CLICK = Touch("t1", "C1", "click", T0 - timedelta(days=1), 1)


def test_the_same_event_id_in_two_tags_is_attributed_as_two_conversions() -> None:
    first = Recorded("tag-1", "e1", "a1", T0, 2)
    second = Recorded("tag-2", "e1", "a1", T0 + timedelta(hours=1), 3)
    results = attribute_recorded([first, second], [CLICK], ACTIVE)
    assert set(results) == {("tag-1", "e1"), ("tag-2", "e1")}
    # Counting 'one': the second one found the click used by the first.
    assert results[("tag-1", "e1")].status == "attributed"
    assert results[("tag-2", "e1")].status == "deduplicated"


def test_a_conversion_whose_settings_are_unknown_gets_nothing_and_uses_up_nothing() -> None:
    pending = Recorded("tag-1", "e0", "a1", T0, 2, rules=None)
    later = Recorded("tag-1", "e1", "a1", T0 + timedelta(hours=1), 3)
    results = attribute_recorded([pending, later], [CLICK], ACTIVE)
    assert ("tag-1", "e0") not in results
    assert results[("tag-1", "e1")].status == "attributed"


def test_the_entry_point_decides_as_the_rules_do() -> None:
    records = [Recorded("tag-1", f"e{i}", "a1", T0 + timedelta(hours=i), 10 + i,
                        Money(100 * i, "EUR")) for i in range(3)]
    results = attribute_recorded(records, [CLICK], ACTIVE, explain=False)
    direct = attribute_member(
        [Conversion(r.event_id, r.action_id, r.occurred_at, r.seq, r.own_value, ONE)
         for r in records], [CLICK], ACTIVE, explain=False)
    assert [(a.status, a.credits, a.value) for a in results.values()] == \
        [(a.status, a.credits, a.value) for a in direct]


def test_an_explained_attribution_has_the_outcome_of_an_unexplained_one() -> None:
    records = [Recorded("tag-1", "e1", "a1", T0, 2), Recorded("tag-1", "e2", "a1", T0, 3)]
    explained = attribute_recorded(records, [CLICK], ACTIVE)
    bare = attribute_recorded(records, [CLICK], ACTIVE, explain=False)
    assert {k: (a.status, a.credits, a.value) for k, a in explained.items()} == \
        {k: (a.status, a.credits, a.value) for k, a in bare.items()}
    assert all(a.candidates for a in explained.values())
