"""The attribution read model: its records and the interface its stores implement.

The projection (projections/attribution/projection.py) reads and writes the model only through a
`AttributionSession`: one per batch, holding the projection's tracking rows locked, so that the
reads of a batch and its writes plus the new tracking positions are one transaction (ADR 0007:
exactly-once effects). Queries for the read API go through `AttributionQueries`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from domain.attribution import ActionRules, Credit, Touch
from domain.fractional_models import value_share
from domain.member_timeline import ERASED
from domain.values import Money
from projections.tracking import TrackedView


@dataclass(frozen=True, slots=True)
class Outcome:
    """What attribution decided for one conversion (docs/attribution.md: Counting, Value)."""

    status: str
    credits: tuple[Credit, ...]
    value: Money | None


@dataclass(frozen=True, slots=True)
class ConversionRecord:
    """A recorded conversion with the settings it is attributed under and its outcome.

    `rules` is None while the action's settings are not known to the projection yet (its
    management event not processed): such a conversion is shown unattributed until they are.
    """

    tag_id: str
    event_id: str
    timeline_id: str
    member_id: str
    action_id: str
    category: str | None
    occurred_at: datetime
    seq: int
    own_value: Money | None
    rules: ActionRules | None
    source: str
    recorded_at: datetime
    outcome: Outcome

    @property
    def key(self) -> tuple[str, str]:
        """A conversion is one per (tag, event_id) (docs/attribution.md: delivery duplicates)."""
        return self.tag_id, self.event_id

    @property
    def credited_campaign_ids(self) -> tuple[str, ...]:
        """The campaigns its stored outcome credits (none unless it counted)."""
        return tuple(c.campaign_id for c in self.outcome.credits)

    @property
    def day(self) -> date:
        """The UTC day a report counts the conversion on (docs/api.md: days are UTC)."""
        return self.occurred_at.astimezone(UTC).date()

    def with_outcome(self, outcome: Outcome, rules: ActionRules | None = None,
                     category: str | None = None) -> ConversionRecord:
        """A copy with a new outcome (and the settings, when they were pending)."""
        # Built directly: dataclasses.replace costs a lot in a 1,000-event batch.
        return ConversionRecord(
            self.tag_id, self.event_id, self.timeline_id, self.member_id, self.action_id,
            self.category if rules is None else category, self.occurred_at, self.seq,
            self.own_value, self.rules if rules is None else rules, self.source,
            self.recorded_at, outcome)


@dataclass(frozen=True, slots=True)
class CreditRow:
    """One counted credit, the unit reports add up (one per conversion and campaign).

    `value_minor` is the credit's share of the conversion's value: all of it for a whole
    credit (1.0), `value_share` of it for a fractional one (ADR 0035).
    """

    tag_id: str
    event_id: str
    campaign_id: str
    action_id: str
    category: str | None
    day: date
    kind: str
    value_minor: int | None
    currency: str | None
    credit: float = 1.0


def credit_value(value: Money | None, credit: Credit) -> int | None:
    """A credit's share of its conversion's value, in minor units (None without a value)."""
    return None if value is None else value_share(value.amount_minor, credit.credit)


def credit_rows(record: ConversionRecord) -> list[CreditRow]:
    """The report rows of a conversion: one per counted credit, with its share of the value."""
    value = record.outcome.value
    return [CreditRow(record.tag_id, record.event_id, credit.campaign_id, record.action_id,
                      record.category, record.day, credit.kind, credit_value(value, credit),
                      None if value is None else value.currency, credit.credit)
            for credit in record.outcome.credits]


@dataclass(frozen=True, slots=True)
class ActionState:
    """A conversion action's current settings, as the projection last saw them."""

    action_id: str
    tag_id: str
    settings: Mapping[str, Any]

    @property
    def category(self) -> str:
        """The action's category."""
        return str(self.settings["category"])

    def rules(self) -> ActionRules:
        """The settings attribution applies (docs/attribution.md: the action's settings)."""
        return ActionRules.from_settings(self.action_id, self.settings)


@dataclass(frozen=True, slots=True)
class CampaignState:
    """A campaign's owner and status history: (effective time, status) in recording order."""

    campaign_id: str
    owner_account_id: str
    history: tuple[tuple[datetime, str], ...]


@dataclass
class MemberFacts:
    """Everything stored about one member that attribution needs."""

    timeline_id: str
    touches: list[Touch] = field(default_factory=list)
    conversions: list[ConversionRecord] = field(default_factory=list)


@dataclass
class AttributionChanges:
    """What one batch changes; a store writes it with the new tracking positions atomically."""

    members: dict[str, str] = field(default_factory=dict)  # timeline id -> member id
    touches: list[tuple[str, Touch]] = field(default_factory=list)  # (timeline id, touch)
    new_conversions: list[ConversionRecord] = field(default_factory=list)
    changed_conversions: list[ConversionRecord] = field(default_factory=list)
    actions: dict[str, ActionState] = field(default_factory=dict)
    campaigns: dict[str, CampaignState] = field(default_factory=dict)
    spend: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # (campaign, day)
    # Timelines whose member was erased: their member id and touch ids are blanked (ADR 0027),
    # after everything else of the batch is written.
    erased: set[str] = field(default_factory=set)


def erased_touch(touch: Touch) -> Touch:
    """A touch of an erased member, as the read model keeps it (ADR 0027)."""
    return replace(touch, event_id=ERASED)


def erased_conversion(record: ConversionRecord) -> ConversionRecord:
    """A conversion of an erased member: no member id, no touch ids; the same counting."""
    outcome = record.outcome
    credits = tuple(replace(c, touch_event_id=ERASED) for c in outcome.credits)
    return replace(record, member_id=ERASED, outcome=replace(outcome, credits=credits))


class AttributionSession(ABC):
    """One batch's view of the store, inside one transaction holding the tracking rows."""

    @abstractmethod
    def positions(self) -> dict[str, int]:
        """The tracked positions, locked until the session ends."""

    @abstractmethod
    def get_actions(self, action_ids: Iterable[str]) -> dict[str, ActionState]:
        """The known actions among these ids."""

    @abstractmethod
    def get_campaigns(self, campaign_ids: Iterable[str]) -> dict[str, CampaignState]:
        """The known campaigns among these ids."""

    @abstractmethod
    def get_member_ids(self, timeline_ids: Iterable[str]) -> dict[str, str]:
        """The member id of each known timeline among these."""

    @abstractmethod
    def list_timelines_touching(self, since: Mapping[str, datetime | None]) -> set[str]:
        """Timelines with a touch of a campaign at or after its time (any time when None)."""

    @abstractmethod
    def list_pending_timelines(self, action_ids: Iterable[str]) -> set[str]:
        """Timelines with a conversion of these actions whose settings were not known yet."""

    @abstractmethod
    def load_facts(self, timeline_ids: Iterable[str], *, with_conversions_only: bool = False
                   ) -> dict[str, MemberFacts]:
        """The stored touches and conversions of these timelines (one query per table).

        With `with_conversions_only`, timelines without a stored conversion are left out.
        """

    @abstractmethod
    def save(self, changes: AttributionChanges, positions: Mapping[str, int]) -> None:
        """Write the changes and the new positions; committed when the session ends."""


@dataclass(frozen=True)
class ConversionFilter:
    """The filters of GET /v1/conversions; `tag_ids` is the caller's ACL scope."""

    tag_ids: frozenset[str]
    action_id: str | None = None
    campaign_id: str | None = None
    timeline_id: str | None = None
    status: str | None = None
    occurred_from: datetime | None = None  # inclusive
    occurred_before: datetime | None = None  # exclusive
    after: tuple[datetime, str, str] | None = None  # keyset: (occurred_at, event_id, tag_id)
    limit: int = 100


class AttributionQueries(ABC):
    """What the read API asks of the attribution model."""

    @abstractmethod
    def list_conversions(self, query: ConversionFilter) -> list[ConversionRecord]:
        """Conversions matching the filter, newest first ((occurred_at, event_id, tag_id) desc)."""

    @abstractmethod
    def find_conversions(self, event_id: str, tag_ids: Iterable[str]) -> list[ConversionRecord]:
        """The conversions with this event id among these tags."""

    @abstractmethod
    def get_member_facts(self, timeline_id: str) -> MemberFacts:
        """Everything stored about one member."""

    @abstractmethod
    def get_conversion_window(self, record: ConversionRecord, since: datetime) -> MemberFacts:
        """What an explanation of `record` needs, and no more: its member's touches from
        `since` to the conversion (both inclusive), and the conversions of the same action
        from `since` that come before it ((occurred_at, seq) order)."""

    @abstractmethod
    def list_campaigns(self, campaign_ids: Iterable[str]) -> dict[str, CampaignState]:
        """The known campaigns among these ids."""


class AttributionView(TrackedView, AttributionQueries):
    """A store of the attribution model: tracking, parking, batch sessions and queries."""

    # Whether catch-up may compute a batch while the last one is written (reader() below and
    # adapters/read_side/pipelined_catch_up.py); a store that takes no time to write gains nothing.
    pipelined = False

    @abstractmethod
    def session(self) -> AbstractContextManager[AttributionSession]:
        """A batch session: commits when the block ends normally, rolls back on error."""

    def reader(self) -> AbstractContextManager[AttributionSession]:
        """A session whose every read sees the latest committed state; it locks nothing and
        cannot save."""
        raise NotImplementedError(f"{type(self).__name__} does not pipeline catch-up")

