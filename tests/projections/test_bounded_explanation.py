"""An explanation reads only its conversion's windows, and decides as the whole history does.

Issue 9: an explanation's cost must not grow with the member's history. It reads the touches of
the conversion's windows and the same action's earlier conversions in them, and carries what
counting "one" needs from those (docs/attribution.md: Counting); the outcome and every verdict on
a touch in the windows are the ones a re-run over the member's whole history gives.
"""

from __future__ import annotations

from domain.attribution import CampaignStatusHistory
from domain.member_attribution import attribute_recorded
from projections.attribution.explanation import explain
from projections.memory_views import InMemoryAttributionView
from tests.projections.test_attribution_projection import project
from tests.projections.varied_world import build_varied_world
from tests.projections.world import World, days


def whole_history_verdicts(view: InMemoryAttributionView) -> dict[tuple[str, str], object]:
    """Each conversion's attribution re-run over its member's whole history, with verdicts."""
    found: dict[tuple[str, str], object] = {}
    for timeline_id in view.touches.keys() | view.by_timeline.keys():
        facts = view.get_member_facts(timeline_id)
        campaigns = view.list_campaigns({t.campaign_id for t in facts.touches})
        history = CampaignStatusHistory({c: s.history for c, s in campaigns.items()})
        found.update(attribute_recorded(facts.conversions, facts.touches, history))
    return found


def test_an_explanation_from_the_windows_decides_as_the_whole_history() -> None:
    world = build_varied_world(World.in_memory())
    view = project(world)
    whole = whole_history_verdicts(view)
    everyone = set(view.campaigns)
    explained = 0
    for record in view.conversions.values():
        explanation = explain(view, record, everyone)
        full = whole.get(record.key)
        if full is None:
            assert explanation.attribution is None
            continue
        attribution = explanation.attribution
        assert attribution is not None
        assert (attribution.status, attribution.credits, attribution.value) == (
            full.status, full.credits, full.value)  # type: ignore[attr-defined]
        # Every touch in the windows gets the verdict the whole history gives it.
        in_windows = {v.touch.seq: (v.verdict, v.detail) for v in attribution.candidates}
        assert in_windows == {v.touch.seq: (v.verdict, v.detail)
                              for v in full.candidates  # type: ignore[attr-defined]
                              if v.touch.seq in in_windows}
        assert (attribution.status, attribution.credits) == (record.outcome.status,
                                                             record.outcome.credits)
        explained += 1
    assert explained >= 20


def test_an_explanation_reads_no_touch_older_than_the_windows() -> None:
    world = World.in_memory()
    campaign = world.campaign()
    action = world.action([campaign], counting="one")
    for n in range(200):  # a long history, all of it older than a 30-day window
        world.click("busy", campaign, world.now - days(400 - n))
    world.click("busy", campaign, world.now - days(2))
    world.convert("busy", action, world.now - days(1))
    view = project(world)
    (record,) = view.conversions.values()
    explanation = explain(view, record, {campaign})
    assert explanation.attribution is not None
    assert explanation.attribution.status == "attributed"
    assert len(explanation.attribution.candidates) == 1
