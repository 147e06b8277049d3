"""The words of an attribution explanation: one sentence per verdict on a touch.

docs/api.md: ``GET /v1/conversions/{event_id}/explanation`` gives "the rule steps that led to the
status, in words and data"; the data are the verdicts, these are the words.
"""

from __future__ import annotations

from domain.attribution_facts import Conversion, Touch

# Verdicts on one touch for one conversion, in the order the rules are applied.
VERDICTS = (
    "not_linked",                 # docs/attribution.md, Vocabulary: linked campaigns only
    "unknown_campaign",
    "campaign_not_active",        # active at the touch's time
    "after_conversion",           # 0 <= T - t
    "outside_click_window",
    "outside_view_window",
    "already_counted",            # docs/attribution.md, Counting: the "one" filter
    "impression_loses_to_click",  # docs/attribution.md, Which touch
    "older_than_credited_touch",
    "recorded_later",             # same time: the one recorded first wins
    "other_campaign_won",         # last_touch_last_campaign
    "credited",
)

_SENTENCES = {
    "not_linked": "{campaign} is not linked to action {action}.",
    "unknown_campaign": "{campaign} is not a known campaign.",
    "campaign_not_active": "{campaign} was {other} when the {kind} occurred; a touch while a "
                           "campaign is not active never counts.",
    "after_conversion": "The {kind} occurred after the conversion.",
    "outside_click_window": "The click occurred more than {click_days} days (the click window) "
                            "before the conversion.",
    "outside_view_window": "The impression occurred more than {view_days} days (the view window) "
                           "before the conversion.",
    "already_counted": "{campaign} already has a counted conversion of {action} at {other}; with "
                       "counting 'one' only its touches after that one are candidates.",
    "impression_loses_to_click": "{campaign} has an eligible click ({other}), which wins over its "
                                 "impressions.",
    "older_than_credited_touch": "A later {kind} of {campaign} ({other}) is the credited touch.",
    "recorded_later": "Another {kind} of {campaign} at the same time ({other}) was recorded first.",
    "other_campaign_won": "Last-campaign attribution chose {other} instead.",
    "credited_click": "The last eligible click of {campaign}: credit post-click.",
    "credited_impression": "The last eligible impression of {campaign}, which has no eligible "
                           "click: credit post-view.",
}


def verdict_detail(verdict: str, touch: Touch, conversion: Conversion, other: str = "") -> str:
    """The sentence explaining one verdict; ``other`` names the fact it was weighed against."""
    key = f"credited_{touch.kind}" if verdict == "credited" else verdict
    sentence = _SENTENCES[key].format(
        campaign=f"campaign {touch.campaign_id}",
        action=conversion.action_id,
        kind=touch.kind,
        click_days=conversion.rules.click_window_days,
        view_days=conversion.rules.view_window_days,
        other=other,
    )
    return sentence[0].upper() + sentence[1:]


def describe_touch(touch: Touch) -> str:
    """A touch in a few words: "click t1 at 2025-01-01T00:00:00+00:00"."""
    return f"{touch.kind} {touch.event_id} at {touch.occurred_at.isoformat()}"
