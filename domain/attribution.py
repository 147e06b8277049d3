"""Attribution: which campaigns get credit for a member's conversions, as what, and whether it counts.

A pure, deterministic function of all of one member's facts (docs/attribution.md). The attribution
projection handles late data by calling it again for the member after every arrival: the result
depends on the facts only, never on their arrival order (docs/attribution.md: Late data).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.attribution_explain import VERDICTS, describe_share, describe_touch, verdict_detail
from domain.attribution_facts import (
    ActionRules,
    CampaignStatusHistory,
    Conversion,
    Touch,
    resolve_value,
)
from domain.fractional_models import SharedPath, share_path
from domain.values import FRACTIONAL_MODELS, Money

__all__ = [
    "ATTRIBUTION_STATUSES", "CREDIT_KINDS", "VERDICTS", "ActionRules", "Attribution",
    "CampaignStatusHistory", "CandidateVerdict", "Conversion", "Credit", "Touch",
    "attribute_member", "resolve_value", "summarise",
]

ATTRIBUTION_STATUSES = ("attributed", "deduplicated", "unattributed")
CREDIT_KINDS = ("post_click", "post_view")


@dataclass(frozen=True, slots=True)
class Credit:
    """One counted credit of a conversion to a campaign.

    `credit` is the campaign's share of the conversion: 1.0 under the last-touch models, the
    sum of its touches' shares under a fractional one (docs/attribution.md: Fractional models).
    """

    campaign_id: str
    kind: str
    touch_event_id: str
    touch_occurred_at: datetime
    credit: float = 1.0


@dataclass(frozen=True, slots=True)
class CandidateVerdict:
    """What the rules decided about one touch for one conversion, in data and in words."""

    touch: Touch
    verdict: str
    detail: str


@dataclass(frozen=True, slots=True)
class Attribution:
    """The outcome for one conversion: its status, its counted credits and why."""

    event_id: str
    status: str
    credits: tuple[Credit, ...]
    value: Money | None
    candidates: tuple[CandidateVerdict, ...]
    rules: ActionRules


_ZERO = timedelta(0)

# Per (action, campaign): the time of the latest conversion counted with credit to the campaign.
_CountedUntil = dict[tuple[str, str], datetime]


def attribute_member(
    conversions: Iterable[Conversion],
    touches: Iterable[Touch],
    campaigns: CampaignStatusHistory,
    *,
    explain: bool = True,
    counted_until: Mapping[tuple[str, str], datetime] | None = None,
) -> list[Attribution]:
    """Attribute all conversions of one member, returned in (occurred_at, seq) order.

    With `explain=False` the verdicts on each touch are not put into words or kept
    (`candidates` is empty): status, credits and value are the same, at a fraction of the
    cost. The projection needs only those; explanations recompute with words on demand.
    `counted_until` is what earlier conversions left, when they are not among `conversions`:
    per (action, campaign), the time of the latest counted conversion that credited it. It is
    all counting "one" carries from one conversion to the next.
    """
    ordered_touches = sorted(touches, key=lambda t: (t.occurred_at, t.seq, t.event_id))
    counted: _CountedUntil = dict(counted_until or {})
    results = []
    # docs/attribution.md, Which touch (Order): conversions are processed in occurred_at order,
    # equal times in the order recorded, because counting "one" depends on the earlier ones.
    for conversion in sorted(conversions, key=lambda c: (c.occurred_at, c.seq, c.event_id)):
        attribution = _attribute(conversion, ordered_touches, campaigns, counted, explain)
        for credit in attribution.credits:
            counted[(conversion.action_id, credit.campaign_id)] = conversion.occurred_at
        results.append(attribution)
    return results


def _attribute(
    conversion: Conversion,
    touches: list[Touch],
    campaigns: CampaignStatusHistory,
    counted_until: _CountedUntil,
    explain: bool,
) -> Attribution:
    """Screen every touch, let the model choose among the candidates left, explain each one."""
    windows = {"click": timedelta(days=conversion.rules.click_window_days),
               "impression": timedelta(days=conversion.rules.view_window_days)}
    screened = [(touch, _screen(touch, conversion, campaigns, counted_until, windows))
                for touch in touches]
    candidates = [touch for touch, rejection in screened if rejection is None]
    # Per campaign, its last candidate click, else impression: the touch a credit names, under
    # the fractional models too (the campaign's latest touch on the path).
    winners = _campaign_winners(candidates)
    shared = None
    if conversion.rules.attribution in FRACTIONAL_MODELS:
        shared = share_path(conversion.rules.attribution, candidates, conversion.occurred_at)
        credited = shared.credits
    else:
        credited = dict.fromkeys(_apply_model(conversion.rules, winners), 1.0)

    verdicts = []
    if explain:
        for touch, rejection in screened:
            verdict, other = rejection or (_compare(touch, winners, credited)
                                           if shared is None else _place(touch, winners, shared))
            verdicts.append(CandidateVerdict(touch, verdict,
                                             verdict_detail(verdict, touch, conversion, other)))
    credits = tuple(
        Credit(touch.campaign_id, "post_click" if touch.kind == "click" else "post_view",
               touch.event_id, touch.occurred_at, credited[touch.campaign_id])
        for touch in candidates
        if touch.campaign_id in credited and touch is winners[touch.campaign_id]
    )
    return Attribution(
        event_id=conversion.event_id,
        status=_status(credits, screened),
        credits=credits,
        value=resolve_value(conversion.rules, conversion.value),
        candidates=tuple(verdicts),
        rules=conversion.rules,
    )


def _screen(
    touch: Touch,
    conversion: Conversion,
    campaigns: CampaignStatusHistory,
    counted_until: _CountedUntil,
    windows: dict[str, timedelta],
) -> tuple[str, str] | None:
    """The verdict that rules a touch out as a candidate, or None if it remains one."""
    rules = conversion.rules
    if touch.campaign_id not in rules.campaign_ids:
        return "not_linked", ""
    status = campaigns.status_at(touch.campaign_id, touch.occurred_at)
    if status is None:
        return "unknown_campaign", ""
    # docs/attribution.md, Vocabulary: active at the touch's time; pausing later keeps the credit.
    if status != "active":
        return "campaign_not_active", status
    age = conversion.occurred_at - touch.occurred_at
    if age < _ZERO:
        return "after_conversion", ""
    # Both bounds inclusive; each kind has its own window, so a click too old for the click
    # window does not block an impression inside the view window.
    if age > windows[touch.kind]:
        return ("outside_click_window" if touch.kind == "click" else "outside_view_window"), ""
    # docs/attribution.md, Counting: the "one" filter comes before the model chooses.
    cutoff = counted_until.get((conversion.action_id, touch.campaign_id))
    if rules.counting == "one" and cutoff is not None and touch.occurred_at <= cutoff:
        return "already_counted", cutoff.isoformat()
    return None


def _preference(touch: Touch) -> tuple[bool, datetime, int]:
    # docs/attribution.md, Which touch: a click beats any impression, then the latest wins, and of
    # two touches at the same time the one recorded first (the lower seq).
    return touch.kind == "click", touch.occurred_at, -touch.seq


def _campaign_winners(candidates: list[Touch]) -> dict[str, Touch]:
    """Per campaign, its last candidate click, else its last candidate impression."""
    winners: dict[str, Touch] = {}
    for touch in candidates:
        best = winners.get(touch.campaign_id)
        if best is None or _preference(touch) > _preference(best):
            winners[touch.campaign_id] = touch
    return winners


def _apply_model(rules: ActionRules, winners: dict[str, Touch]) -> set[str]:
    """The campaigns credited under the action's attribution model."""
    if not winners:
        return set()
    if rules.attribution == "last_touch_each_campaign":
        return set(winners)
    # last_touch_last_campaign: the latest click across campaigns, else the latest impression.
    return {max(winners.values(), key=_preference).campaign_id}


def _compare(touch: Touch, winners: dict[str, Touch], credited: Collection[str]
             ) -> tuple[str, str]:
    """The verdict on a candidate touch once the model has chosen."""
    best = winners[touch.campaign_id]
    if touch.campaign_id not in credited:
        chosen = ", ".join(f"{campaign_id} ({describe_touch(winners[campaign_id])})"
                           for campaign_id in sorted(credited))
        return "other_campaign_won", chosen
    if touch is best:
        return "credited", ""
    if best.kind == "click" and touch.kind == "impression":
        return "impression_loses_to_click", describe_touch(best)
    if touch.occurred_at == best.occurred_at:
        return "recorded_later", describe_touch(best)
    return "older_than_credited_touch", describe_touch(best)


def _place(touch: Touch, winners: dict[str, Touch], shared: SharedPath) -> tuple[str, str]:
    """The verdict on a candidate touch under a fractional model: its place and share."""
    position = shared.position(touch)
    if position is None:
        # docs/attribution.md, Fractional models: with any candidate click the path is clicks.
        return "impression_off_path", ""
    share = shared.shares[position]
    where = f"{position + 1} of {len(shared.touches)} on the path of {shared.kind}s: " \
            f"{shared.model} gives it {describe_share(share) if share else 'nothing'}"
    credit = shared.credits.get(touch.campaign_id)
    if credit is not None and touch is winners[touch.campaign_id]:
        return "credited", f"{where}, and campaign {touch.campaign_id}'s credit (its touches' " \
                           f"shares added up) is {describe_share(credit)}"
    if share:
        return "on_path", f"{where}, which adds to campaign {touch.campaign_id}'s credit"
    return "on_path", where


def _status(credits: tuple[Credit, ...],
            screened: list[tuple[Touch, tuple[str, str] | None]]) -> str:
    # docs/attribution.md, Counting: deduplicated when there were eligible touches but the "one"
    # filter removed them all; unattributed when there were none.
    if credits:
        return "attributed"
    if any(rejection is not None and rejection[0] == "already_counted"
           for _, rejection in screened):
        return "deduplicated"
    return "unattributed"


def summarise(attribution: Attribution) -> str:
    """A one-sentence human summary of an attribution."""
    if attribution.status == "attributed":
        fractional = attribution.rules.attribution in FRACTIONAL_MODELS
        parts = [f"{credit.campaign_id} {credit.kind.replace('_', '-')}"
                 f"{f' {describe_share(credit.credit)}' if fractional else ''} (touch "
                 f"{credit.touch_event_id} at {credit.touch_occurred_at.isoformat()})"
                 for credit in attribution.credits]
        if fractional:
            return (f"Attributed under '{attribution.rules.attribution}', credit shared by "
                    f"campaign: {', '.join(parts)}.")
        return f"Attributed to {', '.join(parts)}."
    if attribution.status == "deduplicated":
        return ("Deduplicated: every eligible touch was already used by an earlier counted "
                f"conversion of {attribution.rules.action_id} (counting 'one').")
    return "Unattributed: no eligible touch of a linked campaign."
