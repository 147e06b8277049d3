"""The facts attribution works on: touches, conversions, action settings and campaign statuses.

Plain frozen values that the attribution projection builds from the event store
(docs/attribution.md: Vocabulary). Times are aware instants; ``seq`` is the event store
position, the "order recorded" that breaks ties on time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.values import (
    ATTRIBUTION_MODELS,
    CAMPAIGN_STATUSES,
    COUNTINGS,
    TOUCH_KINDS,
    VALUE_MODES,
    Money,
)


def _require_aware(moment: datetime, what: str) -> None:
    # Naive times would compare as wall-clock readings; every fact is an instant (docs/api.md: UTC).
    if moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")


@dataclass(frozen=True, slots=True)
class Touch:
    """An impression or a click of a campaign by a member."""

    event_id: str
    campaign_id: str
    kind: str
    occurred_at: datetime
    seq: int

    def __post_init__(self) -> None:
        if self.kind not in TOUCH_KINDS:
            raise ValueError(f"unknown touch kind: {self.kind!r}")
        _require_aware(self.occurred_at, "Touch.occurred_at")


@dataclass(frozen=True, slots=True)
class ActionRules:
    """The settings of a conversion action that attribution applies to one conversion."""

    action_id: str
    click_window_days: int
    view_window_days: int
    counting: str
    attribution: str
    campaign_ids: frozenset[str]
    value_mode: str
    value: Money | None

    def __post_init__(self) -> None:
        for field, allowed in (("counting", COUNTINGS), ("attribution", ATTRIBUTION_MODELS),
                               ("value_mode", VALUE_MODES)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"unknown {field}: {getattr(self, field)!r}")
        # Which window lengths a category allows is the action's guard; here only sanity.
        if self.click_window_days < 0 or self.view_window_days < 0:
            raise ValueError("attribution windows cannot be negative")

    @classmethod
    def from_settings(cls, action_id: str, settings: Mapping[str, Any]) -> ActionRules:
        """The settings of an action that attribution applies (docs/attribution.md: Vocabulary)."""
        # The names are those of ActionSettings.as_dict; other settings (name, URL rules,
        # enabled) are ignored, so stored rules with these names read back the same way.
        return cls(
            action_id,
            int(settings["click_window_days"]),
            int(settings["view_window_days"]),
            str(settings["counting"]),
            str(settings["attribution"]),
            frozenset(settings["campaign_ids"]),
            str(settings["value_mode"]),
            Money.from_dict(settings["value"]),
        )


@dataclass(frozen=True, slots=True)
class Conversion:
    """A fire of a conversion action by a member, with the action's settings to apply to it."""

    event_id: str
    action_id: str
    occurred_at: datetime
    seq: int
    value: Money | None
    rules: ActionRules

    def __post_init__(self) -> None:
        if self.rules.action_id != self.action_id:
            raise ValueError(f"conversion of {self.action_id!r} given the rules of "
                             f"{self.rules.action_id!r}")
        _require_aware(self.occurred_at, "Conversion.occurred_at")


def resolve_value(rules: ActionRules, own_value: Money | None) -> Money | None:
    """The value a conversion carries under its action's value mode (docs/attribution.md: Value)."""
    if rules.value_mode == "dynamic":
        return own_value if own_value is not None else rules.value
    if rules.value_mode == "fixed":
        return rules.value
    return None


StatusChange = tuple[datetime, str]


class CampaignStatusHistory:
    """Per campaign, its status at creation and its later changes, as (effective time, status).

    docs/attribution.md, Vocabulary: a campaign's status at a time is that of its last status
    change at or before that time; before its creation, its status at creation applies. A
    campaign without history is unknown, and unknown campaigns are never active.
    """

    __slots__ = ("_timelines", "_times")

    def __init__(self, timelines: Mapping[str, Iterable[StatusChange]] | None = None) -> None:
        self._timelines: dict[str, tuple[StatusChange, ...]] = {}
        for campaign_id, changes in (timelines or {}).items():
            # A stable sort: changes at the same instant keep the order they were recorded in,
            # so the one recorded last is "the last status change".
            ordered = tuple(sorted(changes, key=lambda change: change[0]))
            for at, status in ordered:
                _require_aware(at, f"status change of {campaign_id!r}")
                if status not in CAMPAIGN_STATUSES:
                    raise ValueError(f"unknown campaign status: {status!r}")
            if ordered:
                self._timelines[campaign_id] = ordered
        # The instants alone, for bisecting: status_at runs once per touch per conversion.
        self._times = {campaign_id: [at for at, _ in timeline]
                       for campaign_id, timeline in self._timelines.items()}

    def status_at(self, campaign_id: str, moment: datetime) -> str | None:
        """The campaign's status at that time, or None for an unknown campaign."""
        timeline = self._timelines.get(campaign_id)
        if timeline is None:
            return None
        if len(timeline) == 1:
            return timeline[0][1]
        index = bisect_right(self._times[campaign_id], moment) - 1
        # Before the first entry (its creation) the status at creation applies.
        return timeline[max(index, 0)][1]

    def is_active_at(self, campaign_id: str, moment: datetime) -> bool:
        """Whether the campaign was active at that time."""
        return self.status_at(campaign_id, moment) == "active"

    def timeline(self, campaign_id: str) -> tuple[StatusChange, ...]:
        """The campaign's status changes in time order (empty for an unknown campaign)."""
        return self._timelines.get(campaign_id, ())

    def with_change(self, campaign_id: str, at: datetime, status: str) -> CampaignStatusHistory:
        """A copy with one more status change (or the creation) of a campaign recorded."""
        timelines: dict[str, Iterable[StatusChange]] = dict(self._timelines)
        timelines[campaign_id] = (*self.timeline(campaign_id), (at, status))
        return CampaignStatusHistory(timelines)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CampaignStatusHistory):
            return NotImplemented
        return self._timelines == other._timelines

    def __repr__(self) -> str:
        return f"CampaignStatusHistory({self._timelines!r})"
