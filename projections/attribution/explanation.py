"""Why a conversion was attributed as it was: the rules re-run over its member's stored facts.

The projection stores outcomes, not the verdict on every touch (that would store each touch
once per conversion). The explanation re-runs the same pure rules over the same stored facts
and settings, which gives exactly the stored outcome plus every verdict (docs/attribution.md is
deterministic: the result depends on the facts only).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.attribution import Attribution, CampaignStatusHistory, summarise
from domain.member_attribution import attribute_recorded
from projections.attribution.records import AttributionQueries, ConversionRecord


@dataclass(frozen=True)
class Explanation:
    """A conversion, the rules' full decision about it, and the sentences that tell it."""

    record: ConversionRecord
    attribution: Attribution | None  # None while its action's settings are unknown
    summary: str
    counting: str
    steps: tuple[str, ...]


def explain(queries: AttributionQueries, record: ConversionRecord) -> Explanation:
    """Re-run attribution for the conversion's member and explain this conversion."""
    facts = queries.get_member_facts(record.timeline_id)
    campaigns = queries.list_campaigns({t.campaign_id for t in facts.touches})
    history = CampaignStatusHistory({c: s.history for c, s in campaigns.items()})
    attribution = attribute_recorded(facts.conversions, facts.touches, history).get(record.key)
    if attribution is None:
        summary = ("Unattributed for now: the settings of action "
                   f"{record.action_id} are not known to the read model yet.")
        return Explanation(record, None, summary, "Not counted yet.", (summary,))
    summary = summarise(attribution)
    counting = counting_sentence(attribution)
    rules = attribution.rules
    linked = ", ".join(sorted(rules.campaign_ids)) or "none"
    steps = (
        f"Settings applied (as when the conversion was first processed): click window "
        f"{rules.click_window_days} days, view window {rules.view_window_days} days, counting "
        f"'{rules.counting}', attribution '{rules.attribution}', value mode "
        f"'{rules.value_mode}'; linked campaigns: {linked}.",
        f"{len(attribution.candidates)} touch(es) of member {record.member_id} were weighed.",
        *(f"{v.touch.kind} {v.touch.event_id} of {v.touch.campaign_id} at "
          f"{v.touch.occurred_at.isoformat()}: {v.detail}" for v in attribution.candidates),
        counting,
        summary,
    )
    return Explanation(record, attribution, summary, counting, steps)


def counting_sentence(attribution: Attribution) -> str:
    """The counting decision in words (docs/attribution.md: Counting)."""
    mode = attribution.rules.counting
    if attribution.status == "attributed":
        if mode == "each":
            return "Counted: with counting 'each' every conversion counts."
        return ("Counted: with counting 'one' a conversion counts once per ad interaction, and "
                "the credited touches had not been used by an earlier counted conversion.")
    if attribution.status == "deduplicated":
        return ("Not counted (deduplicated): with counting 'one' the eligible touches had "
                "already earned an earlier counted conversion of this action.")
    return "Not counted: no eligible touch, so no campaign gets credit."
