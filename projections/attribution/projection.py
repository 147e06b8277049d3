"""The attribution projection: member facts and catalogue events → attributed conversions.

Each batch records what its events say (one handler per event, below), then recomputes every
member whose facts changed with the pure rules of `domain.attribution` (docs/attribution.md), and
writes the changes with its tracking positions in one transaction (ADR 0007). A conversion is
attributed under its action's settings as they are when the projection first processes it; the
settings are stored with it and reused whenever its member is recomputed (docs/attribution.md:
Settings changes), so changing an action never rewrites the past by itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from domain.attribution import Touch
from domain.campaign import Campaign
from domain.conversion_action import ConversionAction, merge_settings
from domain.member_timeline import MemberTimeline
from domain.values import Money
from projections.attribution.batch import AttributionBatch, pending_outcome
from projections.attribution.cache import ProjectionCache
from projections.attribution.records import (
    ActionState,
    AttributionChanges,
    AttributionSession,
    AttributionView,
    CampaignState,
    ConversionRecord,
)
from projections.base import Envelope, ParkedEvent
from projections.tracking import advanced, unseen

log = logging.getLogger("convtrack.projections")

Handler = Callable[[AttributionBatch, Envelope], None]


class AttributionProjection:
    """Attributes every conversion (docs/attribution.md) and keeps the credits reports add up."""

    name = "attribution"
    version = 1

    def __init__(self, view: AttributionView) -> None:
        self.view = view
        self._handlers: dict[str, Handler] = {
            Campaign.Created.TOPIC: on_campaign_created,
            Campaign.StatusChanged.TOPIC: on_campaign_status_changed,
            Campaign.SpendRecorded.TOPIC: on_spend_recorded,
            ConversionAction.Created.TOPIC: on_action_created,
            MemberTimeline.Created.TOPIC: on_member_created,
            MemberTimeline.ImpressionRecorded.TOPIC: on_impression_recorded,
            MemberTimeline.ClickRecorded.TOPIC: on_click_recorded,
            MemberTimeline.ConversionRecorded.TOPIC: on_conversion_recorded,
            MemberTimeline.Erased.TOPIC: on_member_erased,
        }
        for changed in ConversionAction.SettingsChanged.__subclasses__():
            self._handlers[changed.TOPIC] = on_action_settings_changed
        # Handlers by event class, learnt from the topics: a dict hit per event instead of
        # Envelope.topic's getattr chain (issue 3: catch-up at >= 20,000 events/s).
        self._by_type: dict[type, Handler | None] = {}
        # The live path's reads, answered from what this process last committed.
        self.cache = ProjectionCache()
        self._cache_lock = threading.Lock()

    def tracked_positions(self) -> dict[str, int]:
        """The last position applied per source application."""
        return self.view.tracked_positions()

    def process_batch(self, batch: Sequence[Envelope]) -> None:
        """Apply the batch and advance tracking in one transaction; redeliveries are skipped."""
        # One batch at a time per process: the cache describes one committed state.
        with self._cache_lock:
            try:
                with self.view.session() as session:
                    positions = session.positions()
                    fresh = unseen(positions, batch)
                    if not fresh:
                        return
                    reads = self.cache.session(session, positions)
                    changes = self.changes_of(reads, fresh)
                    after = advanced(positions, fresh)
                    session.save(changes, after)
            except BaseException:
                self.cache.forget()  # what it read or learnt may not be what was committed
                raise
            if changes.erased:
                # What it remembers of those members names them; the store now does not.
                self.cache.forget()
            else:
                self.cache.committed(reads, changes, after)

    def changes_of(self, session: AttributionSession, fresh: Sequence[Envelope]
                   ) -> AttributionChanges:
        """What applying these (unseen) envelopes changes, read through the session."""
        work = AttributionBatch(session, fresh)
        by_type = self._by_type
        for envelope in fresh:
            kind = type(envelope.event)
            try:
                handler = by_type[kind]
            except KeyError:
                handler = by_type[kind] = self._handlers.get(envelope.topic)
            if handler is not None:
                handler(work, envelope)
        return work.finish()

    def park(self, envelope: Envelope, error: str, attempts: int) -> None:
        """Set a failing event aside and move past it."""
        log.warning("parked", extra={"projection": self.name, "application": envelope.application,
                                     "position": envelope.position, "error": error})
        self.view.park(self.name, envelope, error, attempts)

    def list_parked(self) -> list[ParkedEvent]:
        """The parked events, oldest first."""
        return self.view.list_parked(self.name)


def on_campaign_created(work: AttributionBatch, envelope: Envelope) -> None:
    """Campaign.Created: its status at creation is the first entry of its history."""
    event: Any = envelope.event
    campaign_id = str(event.originator_id)
    work.put_campaign(CampaignState(campaign_id, event.owner_account_id,
                                    ((event.occurred_at, event.status),)), since=None)


def on_campaign_status_changed(work: AttributionBatch, envelope: Envelope) -> None:
    """Campaign.StatusChanged: touches from then on may count differently (docs/attribution.md)."""
    event: Any = envelope.event
    campaign_id = str(event.originator_id)
    known = work.campaigns.get(campaign_id)
    if known is None:
        log.warning("status change of an unknown campaign",
                    extra={"campaign_id": campaign_id, "position": envelope.position})
        return
    history = (*known.history, (event.occurred_at, event.status))
    work.put_campaign(CampaignState(campaign_id, known.owner_account_id, history),
                      since=event.occurred_at)


def on_spend_recorded(work: AttributionBatch, envelope: Envelope) -> None:
    """Campaign.SpendRecorded: a day's spend, the last record winning."""
    event: Any = envelope.event
    work.put_spend(str(event.originator_id), event.day, event.amount_minor, event.currency)


def on_action_created(work: AttributionBatch, envelope: Envelope) -> None:
    """ConversionAction.Created: the action's settings become known."""
    event: Any = envelope.event
    work.put_action(ActionState(str(event.originator_id), event.tag_id, dict(event.settings)),
                    created=True)


def on_action_settings_changed(work: AttributionBatch, envelope: Envelope) -> None:
    """ConversionAction.*Changed: new settings for conversions processed from now on."""
    event: Any = envelope.event
    action_id = str(event.originator_id)
    known = work.actions.get(action_id)
    if known is None:
        log.warning("settings change of an unknown action",
                    extra={"action_id": action_id, "position": envelope.position})
        return
    work.put_action(ActionState(action_id, known.tag_id,
                                merge_settings(known.settings, event.changes)), created=False)


def on_member_created(work: AttributionBatch, envelope: Envelope) -> None:
    """MemberTimeline.Created: which member a timeline belongs to."""
    event: Any = envelope.event
    work.add_member(str(event.originator_id), event.member_id)


def on_member_erased(work: AttributionBatch, envelope: Envelope) -> None:
    """MemberTimeline.Erased: the member id and touch ids of the timeline are blanked; its
    conversions and credits stay, so reports do not change (ADR 0027)."""
    work.erase_member(str(envelope.event.originator_id))


def on_impression_recorded(work: AttributionBatch, envelope: Envelope) -> None:
    """MemberTimeline.ImpressionRecorded: a touch, ordered by its position."""
    event: Any = envelope.event
    work.add_touch(str(event.originator_id), Touch(event.event_id, event.campaign_id,
                                                   "impression", event.occurred_at,
                                                   envelope.position))


def on_click_recorded(work: AttributionBatch, envelope: Envelope) -> None:
    """MemberTimeline.ClickRecorded: a touch, ordered by its position."""
    event: Any = envelope.event
    work.add_touch(str(event.originator_id), Touch(event.event_id, event.campaign_id, "click",
                                                   event.occurred_at, envelope.position))


def on_conversion_recorded(work: AttributionBatch, envelope: Envelope) -> None:
    """MemberTimeline.ConversionRecorded: a conversion, under its action's current settings."""
    event: Any = envelope.event
    timeline_id = str(event.originator_id)
    own_value = Money.from_dict(event.value)
    rules, category = work.rules_of(event.action_id)
    work.add_conversion(ConversionRecord(
        tag_id=event.tag_id, event_id=event.event_id, timeline_id=timeline_id,
        member_id=work.member_id(timeline_id), action_id=event.action_id, category=category,
        occurred_at=event.occurred_at, seq=envelope.position, own_value=own_value, rules=rules,
        source=event.source, recorded_at=event.timestamp, outcome=pending_outcome(own_value)))
