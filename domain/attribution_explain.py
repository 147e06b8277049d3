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
    "impression_off_path",        # docs/attribution.md, Fractional models: clicks make the path
    "on_path",                    # a share of the credit, for its campaign's credit
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
    "impression_off_path": "There is an eligible, unspent click, so the path is made of clicks "
                           "and impressions get no share.",
    "on_path": "Touch {other}.",
    "credited_share": "Touch {other}; it is the latest touch of {campaign} on the path, which "
                      "the credit names.",
}

# docs/attribution.md, Fractional models: what each model does with the path, in words.
_MODELS = {
    "first_touch": "the first touch of the path gets the whole credit",
    "linear": "every touch of the path gets an equal share",
    "time_decay": "each touch weighs 0.5^(h / 168), h being the hours from the touch to the "
                  "conversion (a 7-day half-life), and the weights are scaled to add up to 1",
    "position_based": "the first and the last touch get 0.4 each and the touches in between "
                      "share 0.2 (a single touch gets 1, two touches 0.5 each)",
}


def verdict_detail(verdict: str, touch: Touch, conversion: Conversion, other: str = "") -> str:
    """The sentence explaining one verdict; ``other`` names the fact it was weighed against
    (for a credited touch of a fractional model: its place on the path and the shares)."""
    key = verdict
    if verdict == "credited":
        key = "credited_share" if other else f"credited_{touch.kind}"
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


def describe_model(model: str) -> str:
    """What a fractional model does, in one sentence (docs/attribution.md: Fractional models)."""
    return (f"Model '{model}': the path is the eligible, unspent clicks of the linked campaigns "
            "in time order (the eligible, unspent impressions when there is no such click); "
            f"{_MODELS[model]}; a campaign's credit is the sum of its touches' shares.")


def describe_share(share: float) -> str:
    """A share or a credit in words: "1", "0", else four decimals ("0.3333"), or "1.2e-05"
    when that would show only zeros."""
    if share in (0.0, 1.0):
        return str(int(share))
    return f"{share:.4f}" if share >= 0.0001 else f"{share:.1e}"
