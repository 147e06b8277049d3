"""One batch of the attribution projection: the facts it adds and the members it recomputes.

The handlers (projections/attribution/projection.py) record what each event says; `finish` then
recomputes every member whose facts changed with the pure `attribute_recorded` over ALL of that
member's touches and conversions (docs/attribution.md: Late data), and keeps only the outcomes that
changed.
Everything is read with one query per table for the whole batch, never per member or per event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from domain.attribution import ActionRules, CampaignStatusHistory, Touch
from domain.campaign import Campaign
from domain.conversion_action import ConversionAction
from domain.member_attribution import attribute_recorded
from domain.member_timeline import ERASED, MemberTimeline
from domain.values import Money
from projections.attribution.facts import (
    ClickRecorded,
    ConversionRecorded,
    ImpressionRecorded,
    TimelineCreated,
)
from projections.attribution.records import (
    ActionState,
    AttributionChanges,
    AttributionSession,
    CampaignState,
    ConversionRecord,
    MemberFacts,
    Outcome,
)
from projections.base import Envelope

# What an event class means to a batch's first pass (which ids it loads).
_TOUCH, _CREATED, _CONVERSION, _ACTION, _CAMPAIGN, _OTHER = (
    "touch", "created", "conversion", "action", "campaign", "other")
_ROLES: dict[type, str] = {
    ImpressionRecorded: _TOUCH, ClickRecorded: _TOUCH,
    TimelineCreated: _CREATED, ConversionRecorded: _CONVERSION,
}


def _role_of(kind: type) -> str:
    """The role of a domain event class, remembered (the batch scan is per event)."""
    if issubclass(kind, MemberTimeline.Created):
        role = _CREATED
    elif issubclass(kind, MemberTimeline.ConversionRecorded):
        role = _CONVERSION
    elif issubclass(kind, (MemberTimeline.ImpressionRecorded, MemberTimeline.ClickRecorded)):
        role = _TOUCH
    elif issubclass(kind, ConversionAction.Event):
        role = _ACTION
    elif issubclass(kind, Campaign.Event):
        role = _CAMPAIGN
    else:
        role = _OTHER
    _ROLES[kind] = role
    return role


def pending_outcome(own_value: Money | None) -> Outcome:
    """How a conversion shows while its action's settings are unknown: unattributed, own value."""
    return Outcome("unattributed", (), own_value)


class AttributionBatch:
    """The state of one batch: what it loaded, what it adds, which members to recompute."""

    def __init__(self, session: AttributionSession, envelopes: Sequence[Envelope]) -> None:
        self.session = session
        self.changes = AttributionChanges()
        action_ids: set[str] = set()
        campaign_ids: set[str] = set()
        created: set[str] = set()
        orphans: set[str] = set()
        # One pass to learn every id the batch refers to, so each table is read once.
        for envelope in envelopes:
            event = envelope.event
            role = _ROLES.get(type(event))
            if role is None:
                role = _role_of(type(event))
            if role is _TOUCH:
                continue
            if role is _CREATED:
                created.add(str(event.originator_id))
            elif role is _CONVERSION:
                action_ids.add(event.action_id)
                if str(event.originator_id) not in created:
                    orphans.add(str(event.originator_id))
            elif role is _ACTION:
                action_ids.add(str(event.originator_id))
            elif role is _CAMPAIGN:
                campaign_ids.add(str(event.originator_id))
        self.actions = session.get_actions(action_ids)
        self.campaigns = session.get_campaigns(campaign_ids)
        self.members = session.get_member_ids(orphans)
        self._rules: dict[str, ActionRules] = {}
        self.touches: dict[str, list[Touch]] = defaultdict(list)
        self.conversions: dict[str, list[ConversionRecord]] = defaultdict(list)
        self.affected: set[str] = set()
        self.campaign_triggers: dict[str, datetime | None] = {}
        self.pending_actions: set[str] = set()

    # --- what the handlers record -------------------------------------------------------

    def add_member(self, timeline_id: str, member_id: str) -> None:
        """A new member timeline."""
        self.members[timeline_id] = member_id
        self.changes.members[timeline_id] = member_id

    def erase_member(self, timeline_id: str) -> None:
        """The timeline's member was erased: who they were is blanked everywhere (ADR 0027)."""
        self.members[timeline_id] = ERASED
        if timeline_id in self.changes.members:
            self.changes.members[timeline_id] = ERASED
        self.changes.erased.add(timeline_id)

    def add_touch(self, timeline_id: str, touch: Touch) -> None:
        """A new touch: its member is recomputed."""
        self.touches[timeline_id].append(touch)
        self.changes.touches.append((timeline_id, touch))
        self.affected.add(timeline_id)

    def add_conversion(self, record: ConversionRecord) -> None:
        """A new conversion: its member is recomputed."""
        self.conversions[record.timeline_id].append(record)
        self.affected.add(record.timeline_id)

    def member_id(self, timeline_id: str) -> str:
        """The member id of a timeline (its Created event comes first in the same log)."""
        try:
            return self.members[timeline_id]
        except KeyError:
            raise LookupError(f"timeline {timeline_id} has no recorded creation") from None

    def rules_of(self, action_id: str) -> tuple[ActionRules | None, str | None]:
        """The action's settings as they are now, and its category; (None, None) if unknown."""
        state = self.actions.get(action_id)
        if state is None:
            return None, None
        if action_id not in self._rules:
            self._rules[action_id] = state.rules()
        return self._rules[action_id], state.category

    def put_action(self, state: ActionState, *, created: bool) -> None:
        """New settings of an action; a new action settles its pending conversions."""
        self.actions[state.action_id] = state
        self.changes.actions[state.action_id] = state
        self._rules.pop(state.action_id, None)
        if created:
            self.pending_actions.add(state.action_id)

    def put_campaign(self, state: CampaignState, since: datetime | None) -> None:
        """A campaign's status history changed: touches from `since` on may count differently."""
        self.campaigns[state.campaign_id] = state
        self.changes.campaigns[state.campaign_id] = state
        if state.campaign_id in self.campaign_triggers:
            earlier = self.campaign_triggers[state.campaign_id]
            since = None if earlier is None or since is None else min(earlier, since)
        self.campaign_triggers[state.campaign_id] = since

    def put_spend(self, campaign_id: str, day: str, amount_minor: int, currency: str) -> None:
        """A day's spend; the last record wins (docs/api.md: Campaigns)."""
        self.changes.spend[(campaign_id, day)] = (amount_minor, currency)

    # --- the recompute -------------------------------------------------------------------

    def finish(self) -> AttributionChanges:
        """Recompute every affected member; the changes to write."""
        if self.campaign_triggers:
            self.affected |= self.session.list_timelines_touching(self.campaign_triggers)
        if self.pending_actions:
            self.affected |= self.session.list_pending_timelines(self.pending_actions)
        if not self.affected:
            return self.changes
        # A member without conversions has nothing to attribute: its touches are stored and
        # wait; only members with conversions (stored or new) are loaded and recomputed. A
        # member created in this batch has nothing stored (nothing precedes its creation in
        # the log, and `unseen` dropped anything applied before), so it is not looked up.
        born = self.changes.members.keys()
        earlier = self.affected - born
        stored = self.session.load_facts(earlier, with_conversions_only=True) if earlier else {}
        # A member whose first conversion is in this batch has no stored conversion, but its
        # stored touches are exactly what the new conversion must be weighed against.
        first_conversions = set(self.conversions) - set(stored) - born
        if first_conversions:
            stored.update(self.session.load_facts(first_conversions))
        for timeline_id in self.conversions:
            stored.setdefault(timeline_id, MemberFacts(timeline_id))
        self._load_missing(stored)
        history = CampaignStatusHistory({c: s.history for c, s in self.campaigns.items()})
        for facts in stored.values():
            self._recompute(facts, history)
        return self.changes

    def _load_missing(self, stored: dict[str, MemberFacts]) -> None:
        """Campaigns of every touch, actions of pending conversions: one query each."""
        campaign_ids = {t.campaign_id for ts in self.touches.values() for t in ts}
        action_ids: set[str] = set()
        for facts in stored.values():
            campaign_ids.update(t.campaign_id for t in facts.touches)
            action_ids.update(c.action_id for c in facts.conversions if c.rules is None)
        missing = campaign_ids - set(self.campaigns)
        if missing:
            self.campaigns.update(self.session.get_campaigns(missing))
        missing = action_ids - set(self.actions)
        if missing:
            self.actions.update(self.session.get_actions(missing))

    def _recompute(self, facts: MemberFacts, history: CampaignStatusHistory) -> None:
        timeline_id = facts.timeline_id
        new = self.conversions.get(timeline_id, [])
        records = [(record, False) for record in facts.conversions] + \
                  [(record, True) for record in new]
        touches = facts.touches + self.touches.get(timeline_id, [])
        inputs: list[ConversionRecord] = []
        settled: dict[tuple[str, str], tuple[ConversionRecord, bool, bool]] = {}
        for record, is_new in records:
            filled = False
            if record.rules is None:
                rules, category = self.rules_of(record.action_id)
                if rules is not None:
                    record = record.with_outcome(record.outcome, rules, category)
                    filled = True
            settled[(record.tag_id, record.event_id)] = (record, is_new, filled)
            inputs.append(record)
        results = attribute_recorded(inputs, touches, history, explain=False)
        for key, (record, is_new, filled) in settled.items():
            result = results.get(key)
            outcome = record.outcome if result is None else \
                Outcome(result.status, result.credits, result.value)
            if is_new:
                self.changes.new_conversions.append(record.with_outcome(outcome))
            elif filled or outcome != record.outcome:
                # Write only what changed: most recomputes leave earlier conversions as they were.
                self.changes.changed_conversions.append(record.with_outcome(outcome))
