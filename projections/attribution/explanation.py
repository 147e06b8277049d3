"""Why a conversion was attributed as it was: the rules re-run over its member's stored facts.

The projection stores outcomes, not the verdict on every touch (that would store each touch
once per conversion). The explanation re-runs the same pure rules over the same stored facts
and settings, which gives exactly the stored outcome plus every verdict (docs/attribution.md is
deterministic: the result depends on the facts only).

The rules always run over the member's whole timeline, every account's touches included, so the
outcome never depends on who asks; only what is shown is limited to the caller's campaigns
(docs/api.md: Roles and access; ADR 0021).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from domain.attribution import Attribution, CampaignStatusHistory, CandidateVerdict, summarise
from domain.attribution_explain import describe_model
from domain.member_attribution import attribute_recorded, counted_before, explanation_since
from domain.values import FRACTIONAL_MODELS
from projections.attribution.records import AttributionQueries, ConversionRecord


@dataclass(frozen=True)
class Explanation:
    """A conversion, the rules' decision about it as the caller may see it, and its sentences."""

    record: ConversionRecord
    # None while its action's settings are unknown; else the outcome of the whole timeline,
    # with `candidates` cut down to the touches the caller may see.
    attribution: Attribution | None
    summary: str
    counting: str
    steps: tuple[str, ...]
    other_touches: int = 0  # weighed by the rules, but of campaigns the caller may not see


def explain(queries: AttributionQueries, record: ConversionRecord,
            visible_campaign_ids: Collection[str]) -> Explanation:
    """Re-run attribution for the conversion's member and explain this conversion, showing
    only the touches of `visible_campaign_ids` (and the credited ones) as candidates."""
    attribution = None
    if record.rules is not None:
        # Only the conversion's windows, however long the member's history (issue 9: an
        # explanation's cost must not grow with it); the same outcome as the whole timeline.
        window = queries.get_conversion_window(
            record, explanation_since(record.rules, record.occurred_at))
        campaigns = queries.list_campaigns({t.campaign_id for t in window.touches})
        history = CampaignStatusHistory({c: s.history for c, s in campaigns.items()})
        attribution = attribute_recorded(
            [record], window.touches, history,
            counted_until=counted_before(window.conversions)).get(record.key)
    if attribution is None:
        summary = ("Unattributed for now: the settings of action "
                   f"{record.action_id} are not known to the read model yet.")
        return Explanation(record, None, summary, "Not counted yet.", (summary,))
    shown = tuple(v for v in attribution.candidates if _shown(v, visible_campaign_ids))
    other_touches = len(attribution.candidates) - len(shown)
    attribution = replace(attribution, candidates=shown)
    summary = summarise(attribution)
    counting = counting_sentence(attribution)
    rules = attribution.rules
    linked = ", ".join(sorted(rules.campaign_ids)) or "none"
    hidden = (f"{other_touches} other touch(es) of member {record.member_id}, of campaigns "
              "you cannot see, were weighed too and are not shown.",) if other_touches else ()
    # docs/attribution.md, Fractional models: how the credit is shared, before each touch's part.
    model = (describe_model(rules.attribution),) if rules.attribution in FRACTIONAL_MODELS else ()
    steps = (
        f"Settings applied (as when the conversion was first processed): click window "
        f"{rules.click_window_days} days, view window {rules.view_window_days} days, counting "
        f"'{rules.counting}', attribution '{rules.attribution}', value mode "
        f"'{rules.value_mode}'; linked campaigns: {linked}.",
        f"{len(shown)} touch(es) of member {record.member_id} were weighed.",
        *hidden,
        *model,
        *(f"{v.touch.kind} {v.touch.event_id} of {v.touch.campaign_id} at "
          f"{v.touch.occurred_at.isoformat()}: {v.detail}" for v in shown),
        counting,
        summary,
    )
    return Explanation(record, attribution, summary, counting, steps, other_touches)


def _shown(verdict: CandidateVerdict, visible_campaign_ids: Collection[str]) -> bool:
    # A credited touch is named by the conversion's own credits and summary already (its
    # campaign was linked when the conversion was attributed, even if unlinked since).
    return verdict.touch.campaign_id in visible_campaign_ids or verdict.verdict == "credited"


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
