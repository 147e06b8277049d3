"""One member's recorded conversions attributed: the entry point of the projection and the
explanation alike.

Both re-run `attribute_member` over the same stored facts; building its inputs here, once, is
what makes an explanation give exactly the outcome the projection stored (docs/attribution.md:
the result depends on the facts only).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from domain.attribution import (
    ActionRules,
    Attribution,
    CampaignStatusHistory,
    Conversion,
    Touch,
    attribute_member,
)
from domain.values import Money

# A conversion is one per (tag, event_id) (docs/attribution.md: delivery duplicates).
ConversionKey = tuple[str, str]


class RecordedConversion(Protocol):
    """What attribution needs of a recorded conversion: its identity, facts and settings."""

    @property
    def tag_id(self) -> str: ...
    @property
    def event_id(self) -> str: ...
    @property
    def action_id(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def seq(self) -> int: ...
    @property
    def own_value(self) -> Money | None: ...
    @property
    def rules(self) -> ActionRules | None: ...


def attribute_recorded(
    conversions: Iterable[RecordedConversion],
    touches: Iterable[Touch],
    campaigns: CampaignStatusHistory,
    *,
    explain: bool = True,
    counted_until: dict[tuple[str, str], datetime] | None = None,
) -> dict[ConversionKey, Attribution]:
    """Attribute a member's recorded conversions, keyed by (tag_id, event_id).

    A conversion whose settings are not known yet (`rules` is None) is left out, and so has
    no entry: it neither gets nor uses up any credit until they are. The projection gives all
    of a member's conversions and touches; an explanation gives one conversion, the touches
    of its windows and `counted_until` from the earlier ones (`counted_before`), which decides
    it exactly as the whole history does (docs/attribution.md: Counting).
    """
    inputs = []
    keys: dict[str, ConversionKey] = {}
    for record in conversions:
        rules = record.rules
        if rules is None:
            continue
        # Within one member an event_id is unique only per tag, so the tag is part of the id
        # attribute_member keys by (and breaks exact ties on).
        key = (record.tag_id, record.event_id)
        joined = f"{key[0]}\x1f{key[1]}"
        keys[joined] = key
        inputs.append(Conversion(joined, record.action_id, record.occurred_at, record.seq,
                                 record.own_value, rules))
    return {keys[a.event_id]: a
            for a in attribute_member(inputs, touches, campaigns, explain=explain,
                                      counted_until=counted_until)}


class CountedConversion(RecordedConversion, Protocol):
    """A recorded conversion with the campaigns its stored outcome credited."""

    @property
    def credited_campaign_ids(self) -> Iterable[str]: ...


def explanation_since(rules: ActionRules, occurred_at: datetime) -> datetime:
    """The earliest touch time a conversion's windows reach: no older touch can be a candidate,
    and no earlier conversion's credit older than it can rule a candidate out."""
    return occurred_at - timedelta(days=max(rules.click_window_days, rules.view_window_days))


def counted_before(earlier: Iterable[CountedConversion]) -> dict[tuple[str, str], datetime]:
    """What earlier counted conversions leave for the next one (attribute_member's
    `counted_until`): per (action, campaign), the time of the latest that credited it."""
    counted: dict[tuple[str, str], datetime] = {}
    for conversion in earlier:
        # Any credit spends: a whole one, or any share under a fractional model
        # (docs/attribution.md: Fractional models, counting "one").
        for campaign_id in conversion.credited_campaign_ids:
            key = (conversion.action_id, campaign_id)
            known = counted.get(key)
            if known is None or conversion.occurred_at > known:
                counted[key] = conversion.occurred_at
    return counted
