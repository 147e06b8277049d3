"""The MemberTimeline aggregate: one member's touches, conversions and consent."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, Snapshot, event


# What an erased member's identifying values read as, in the event store and every read model.
ERASED = "erased"


class MemberOptedOut(Exception):
    """The member opted out: no fact about them is recorded until they opt in again."""


class MemberTimeline(Aggregate):
    """Everything recorded about one member, in recording order.

    Invariants: while `opted_out`, no touch or conversion is recorded (docs/attribution.md: opt-out
    takes effect from the moment it is recorded). The timeline keeps no list of its facts: the
    event store is that list, and idempotency is checked against the fact-key index written in
    the same transaction as the events (ADR 0004), so loading a timeline stays cheap.
    """

    TOPIC = "convtrack:MemberTimeline"

    class Event(Aggregate.Event):
        actor: str
        occurred_at: datetime

    class Created(Event, Aggregate.Created):
        TOPIC = "convtrack:MemberTimeline.Created"
        member_id: str

    class ImpressionRecorded(Event):
        TOPIC = "convtrack:MemberTimeline.ImpressionRecorded"
        event_id: str
        campaign_id: str

    class ClickRecorded(Event):
        TOPIC = "convtrack:MemberTimeline.ClickRecorded"
        event_id: str
        campaign_id: str

    class ConversionRecorded(Event):
        TOPIC = "convtrack:MemberTimeline.ConversionRecorded"
        event_id: str
        action_id: str
        tag_id: str
        value: dict[str, Any] | None
        source: str
        click_id: str | None

    class OptedOut(Event):
        TOPIC = "convtrack:MemberTimeline.OptedOut"

    class OptedIn(Event):
        TOPIC = "convtrack:MemberTimeline.OptedIn"

    class Erased(Event):
        """The member was erased: their key is destroyed. Carries nothing that names them."""

        TOPIC = "convtrack:MemberTimeline.Erased"

    @staticmethod
    def create_id(member_id: str) -> UUID:
        """Only for timelines made before erasure existed: today the application gives each
        new timeline a random id, mapped from the member id by the erasable key table."""
        return timeline_id(member_id)

    @event(Created)
    def __init__(self, member_id: str, actor: str, occurred_at: datetime) -> None:
        self.member_id = member_id
        self.opted_out = False
        self.erased = False

    @classmethod
    def start(cls, timeline: UUID, member_id: str, actor: str, occurred_at: datetime
              ) -> MemberTimeline:
        """A new timeline with the id the application chose (random, ADR 0027)."""
        return cls._create(cls.Created, id=timeline, member_id=member_id, actor=actor,
                           occurred_at=occurred_at)

    @classmethod
    def from_head(
        cls, timeline: UUID, member_id: str, version: int, opted_out: bool,
        modified_on: datetime,
    ) -> MemberTimeline:
        """The timeline at `version`, rebuilt from its head instead of its whole history.

        The timeline decides only from `opted_out` (see the invariants), so ingestion reads each
        member's last version and last consent change in one query for a whole batch and
        resumes from there, the way the library resumes from a snapshot (ADR 0004).
        """
        state = {"member_id": member_id, "opted_out": opted_out, "erased": False,
                 "_created_on": modified_on, "_modified_on": modified_on}
        head = Snapshot(originator_id=timeline, originator_version=version,
                        timestamp=modified_on, topic=cls.TOPIC, state=state)
        timeline = head.mutate(None)
        assert isinstance(timeline, cls)
        return timeline

    def check_accepts_facts(self) -> None:
        """Facts about an opted-out member are not recorded."""
        if self.opted_out:
            raise MemberOptedOut(self.member_id)

    # A fact changes nothing in the timeline (the event is the record), so its event is
    # triggered as it is instead of through an `@event` method with an empty body: matching the
    # method's arguments to the event's fields cost more than the rest of recording the fact
    # (ADR 0034). Replaying one is unchanged: the event only advances the version.

    def record_touch(
        self, kind: str, event_id: str, campaign_id: str, actor: str, occurred_at: datetime
    ) -> None:
        """Record an impression or a click of a campaign."""
        self.check_accepts_facts()
        self.trigger_event(self.ClickRecorded if kind == "click" else self.ImpressionRecorded,
                           event_id=event_id, campaign_id=campaign_id, actor=actor,
                           occurred_at=occurred_at)

    def record_conversion(
        self, event_id: str, action_id: str, tag_id: str, value: dict[str, Any] | None,
        source: str, click_id: str | None, actor: str, occurred_at: datetime,
    ) -> None:
        """Record a fire of a conversion action (from the tag or the server API)."""
        self.check_accepts_facts()
        self.trigger_event(self.ConversionRecorded, event_id=event_id, action_id=action_id,
                           tag_id=tag_id, value=value, source=source, click_id=click_id,
                           actor=actor, occurred_at=occurred_at)

    def opt_out(self, actor: str, occurred_at: datetime) -> None:
        """Stop recording facts about the member; a second opt-out records nothing."""
        if not self.opted_out:
            self._opt_out(actor, occurred_at)

    @event(OptedOut)
    def _opt_out(self, actor: str, occurred_at: datetime) -> None:
        self.opted_out = True

    def opt_in(self, actor: str, occurred_at: datetime) -> None:
        """Resume recording facts; opting in when not opted out records nothing."""
        if self.opted_out:
            self._opt_in(actor, occurred_at)

    @event(OptedIn)
    def _opt_in(self, actor: str, occurred_at: datetime) -> None:
        self.opted_out = False

    def erase(self, actor: str, occurred_at: datetime) -> None:
        """Forget who the member was; erasing twice records nothing."""
        if not self.erased:
            self._erase(actor, occurred_at)

    @event(Erased)
    def _erase(self, actor: str, occurred_at: datetime) -> None:
        self.member_id = ERASED
        self.erased = True


_MEMBERS = uuid5(NAMESPACE_URL, "https://convtrack.dev/members")


@lru_cache(maxsize=65536)
def timeline_id(member_id: str) -> UUID:
    """The aggregate id timelines had before erasure (UUID v5 of the member id).

    Only legacy timelines have it: a hash of the member id would let anyone holding a member id
    confirm the member was there, so new timelines get a random id (ADR 0027)."""
    return uuid5(_MEMBERS, member_id)


def conversion_scope(tag_id: str) -> str:
    """The idempotency scope of a conversion's event_id: the tag it was recorded for."""
    # docs/attribution.md, Counting: the same event_id for the same tag is one conversion,
    # whichever path sent it first; the same event_id in another tag is another conversion.
    return f"conversion:{tag_id}"
