"""The ingestion application: member timelines, fed by touches and conversions in batches.

One batch is one transaction: the new events of every member touched, the fact keys that make
ingestion idempotent, the duplicate ledger and the dead letters (ADR 0004). Timelines are loaded
for the whole batch in one query, not one at a time (issue 2, benchmark).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording, Transcoder
from eventsourcing.popo import POPOFactory

from application.access import Caller
from application.errors import Forbidden
from application.event_codec import MsgspecTranscoder
from application.fact_checks import FactChecks
from application.fact_ledger import (
    DeadLetter,
    DeadLetterQuery,
    DuplicateEntry,
    FactKey,
    FactRecorder,
    InMemoryFactRecorder,
    Ledger,
)
from application.facts import ConversionIn, ItemResult, Plan, TouchIn, Undecodable
from application.management import ManagementApp
from application.management_base import Clock, utc_now
from application.member_heads import HeadCache
from application.member_keys import KeyRing, MemberMapper, new_key, new_timeline_id
from domain.member_timeline import MemberTimeline, timeline_id
from domain.validation import Invalid, check_identifier

MAX_ATTEMPTS = 5
EXPIRY_EVERY = 60.0  # seconds: dead letters are expired at most this often per process
# The head query's "last state change": consent, and erasure (an erased timeline is never
# resumed; the member, if they come back, gets a new timeline and key).
CONSENT_TOPICS = (MemberTimeline.OptedOut.TOPIC, MemberTimeline.OptedIn.TOPIC,
                  MemberTimeline.Erased.TOPIC)


class IngestionApp(Application[UUID]):
    """Records touches, conversions and consent on member timelines, idempotently."""

    name = "ingestion"

    def __init__(
        self, catalogue: ManagementApp, env: dict[str, str] | None = None, clock: Clock = utc_now
    ) -> None:
        self.key_ring = KeyRing(lambda ids: self.ledger.select_timeline_keys(ids))
        self._heads = HeadCache()  # where this process left members' timelines (ADR 0034)
        super().__init__(env)
        self.catalogue = catalogue
        self.clock = clock
        self.dead_letter_days = 30  # CONVTRACK_DEAD_LETTER_DAYS (ADR 0028)
        self._expired_at: float | None = None  # monotonic time of the last expiry

    def construct_mapper(self) -> MemberMapper:
        """The library's mapper, sealing what names a member under their key (ADR 0027)."""
        return MemberMapper(transcoder=self.construct_transcoder(), key_ring=self.key_ring)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoder, its bytes written by msgspec (ADR 0034)."""
        transcoder = super().construct_transcoder()
        if type(transcoder) is JSONTranscoder:  # the default: anything configured is kept
            transcoder = MsgspecTranscoder()
            self.register_transcodings(transcoder)
        return transcoder

    def construct_recorder(self) -> Any:
        """The event recorder must also keep the fact ledger (in memory or in PostgreSQL)."""
        if isinstance(self.factory, POPOFactory):
            return InMemoryFactRecorder()
        recorder = super().construct_recorder()
        for method in ("find_fact_keys", "select_heads", "list_duplicates"):
            if not hasattr(recorder, method):
                raise TypeError(f"{type(recorder).__name__} cannot keep the fact ledger")
        return recorder

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's `Application.save`, step for step, with a cheaper collection step.

        On Python 3.11 `isinstance(x, SomeProtocol)` walks the protocol's attributes on every
        call; `ProcessingEvent.collect_events` makes two such checks per aggregate, which was 20%
        of ingestion time in the profile (bench/ingest.py). Timelines are plain aggregates, so
        a class check is enough. The other steps are the library's own, in its order; this
        relies on its private `_record`, `_take_snapshots` and `_notify` (ADR 0020), and
        tests/application/test_library_save.py fails when eventsourcing's save changes.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif obj is not None:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated in 9.5, still called by save()
        return recordings

    @property
    def ledger(self) -> FactRecorder:
        """The recorder, seen as the keeper of fact keys, duplicates and dead letters."""
        return cast(FactRecorder, self.recorder)

    def record_touches(
        self, caller: Caller, items: Sequence[TouchIn | Undecodable]
    ) -> list[ItemResult]:
        """Record impressions and clicks from the ad platform (admin token only)."""
        if not caller.is_admin:
            raise Forbidden("touches are sent by the ad platform with the admin token")
        checks = FactChecks(self.catalogue, self.ledger, caller, self.clock())
        return self._ingest("touch", caller, checks, [
            checks.touch(i, item) if isinstance(item, TouchIn) else item
            for i, item in enumerate(items)
        ])

    def record_conversions(
        self, caller: Caller, items: Sequence[ConversionIn | Undecodable]
    ) -> list[ItemResult]:
        """Record server-side conversions for actions the caller may send (editor role)."""
        return self._record_conversions("conversion", caller, items)

    def record_fires(self, items: Sequence[ConversionIn | Undecodable]) -> list[ItemResult]:
        """Record the conversions of browser fires (`source` "tag", ADR 0032): checked as a
        server-side conversion is, so one event_id per tag is one conversion whichever path
        sent it first; the rejected are dead letters of kind `collect`."""
        return self._record_conversions("collect", Caller.collector(), items)

    def _record_conversions(
        self, kind: str, caller: Caller, items: Sequence[ConversionIn | Undecodable]
    ) -> list[ItemResult]:
        checks = FactChecks(self.catalogue, self.ledger, caller, self.clock())
        checks.resolve_click_ids([i.click_id for i in items
                                  if isinstance(i, ConversionIn) and i.click_id])
        return self._ingest(kind, caller, checks, [
            checks.conversion(i, item) if isinstance(item, ConversionIn) else item
            for i, item in enumerate(items)
        ])

    def list_dead_letters(self, caller: Caller, query: DeadLetterQuery) -> list[DeadLetter]:
        """The caller's own rejected items (its `actor`), newest first."""
        return self.ledger.find_dead_letters(
            DeadLetterQuery(caller.actor, query.kind, query.reason, query.received_from,
                            query.received_before, query.before_id, query.limit))

    def expire_dead_letters(self) -> int:
        """Delete dead letters older than `dead_letter_days` (ADR 0028); how many went."""
        self._expired_at = time.monotonic()
        return self.ledger.expire_dead_letters(
            self.clock() - timedelta(days=self.dead_letter_days))

    def _expire_now_and_then(self) -> None:
        """Expire dead letters, at most once every EXPIRY_EVERY seconds (bounded work)."""
        if self._expired_at is None or time.monotonic() - self._expired_at >= EXPIRY_EVERY:
            self.expire_dead_letters()

    def opt_out(self, caller: Caller, member_id: str) -> MemberTimeline:
        """From now on, record nothing about this member (admin)."""
        return self._consent(caller, member_id, opt_out=True)

    def opt_in(self, caller: Caller, member_id: str) -> MemberTimeline:
        """Resume recording facts about this member (admin)."""
        return self._consent(caller, member_id, opt_out=False)

    def find_timeline(self, member_id: str) -> MemberTimeline | None:
        """A member's timeline, or None if nothing was ever recorded about them (or they were
        erased)."""
        return self._load_timelines([member_id], caller=None).get(member_id)

    def find_timeline_id(self, member_id: str) -> UUID | None:
        """The id of a member's timeline; None if unknown or erased (ADR 0027)."""
        timeline = self.find_timeline(member_id)
        return None if timeline is None else timeline.id

    def erase(self, caller: Caller, member_id: str) -> None:
        """Crypto-shred a member (admin, ADR 0027): their key and the map from their id to their
        timeline are deleted, an `Erased` event naming nobody is recorded, and the ledger
        forgets them; the read models blank them when they apply the event. Erasing an unknown
        or erased member still clears the ledger of entries naming them."""
        if not caller.is_admin:
            raise Forbidden("erasure is requested with the admin token")
        check_identifier(member_id, "member_id")
        for attempt in range(MAX_ATTEMPTS):
            timeline = self._load_timelines([member_id], caller=None).get(member_id)
            if timeline is not None:
                timeline.erase(actor=caller.actor, occurred_at=self.clock())
            try:
                self.save(timeline, ledger=Ledger(erasures=[member_id]))
            except IntegrityError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                continue
            if timeline is not None:
                self.key_ring.forget(timeline.id)
            self._heads.forget([member_id])
            return
        raise AssertionError("unreachable")

    def _consent(self, caller: Caller, member_id: str, *, opt_out: bool) -> MemberTimeline:
        if not caller.is_admin:
            raise Forbidden("consent changes come from the ad platform with the admin token")
        # The same rule as a touch's member_id: a timeline is never created for a non-id.
        check_identifier(member_id, "member_id")
        for attempt in range(MAX_ATTEMPTS):
            ledger = Ledger()
            timeline = self._load_timelines([member_id], caller, ledger)[member_id]
            change = timeline.opt_out if opt_out else timeline.opt_in
            change(actor=caller.actor, occurred_at=self.clock())
            try:
                self.save(timeline, ledger=ledger)
                self._heads.forget([member_id])
                return timeline
            except IntegrityError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _ingest(
        self, kind: str, caller: Caller, checks: FactChecks, checked: list[Plan | Undecodable]
    ) -> list[ItemResult]:
        # A concurrent batch may record the same key or member first: then the transaction
        # fails as a whole, and a retry sees the other batch's facts (exactly-once, ADR 0004).
        for attempt in range(MAX_ATTEMPTS):
            try:
                return self._try_ingest(kind, caller, checks, checked)
            except IntegrityError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _try_ingest(
        self, kind: str, caller: Caller, checks: FactChecks, checked: list[Plan | Undecodable]
    ) -> list[ItemResult]:
        now = self.clock()
        results: list[ItemResult | None] = [None] * len(checked)
        ledger = Ledger()
        plans = []
        rejected = []
        for i, item in enumerate(checked):
            if isinstance(item, Plan):
                plans.append(item)
                continue
            results[i] = ItemResult.rejected(item.event_id, item.field, item.reason, item.detail)
            rejected.append(item)
        self._keep_dead_letters(kind, caller, checks, rejected, ledger, now)
        fresh, repeats = self._drop_duplicates(plans, results)
        timelines = self._load_timelines([p.member_id for p in fresh if p.member_id], caller,
                                         ledger, resume=True)
        self._keep_duplicates(repeats, timelines, ledger, now)
        for plan in fresh:
            timeline = timelines[plan.member_id] if plan.member_id else None
            # docs/attribution.md: an opted-out member's facts are answered as anyone's and
            # not recorded, so a sender cannot learn who opted out. Their key is kept, without
            # the member, so that a repeat is a `duplicate` as anyone's repeat would be.
            if timeline is None or timeline.opted_out:
                ledger.fact_keys.append(
                    FactKey(plan.scope, plan.event_id, None, plan.source, plan.campaign_id))
            else:
                plan.record(timeline)
                ledger.fact_keys.append(FactKey(plan.scope, plan.event_id, plan.member_id,
                                                plan.source, plan.campaign_id))
            results[plan.index] = ItemResult.accepted(plan.event_id)
        try:
            self.save(*timelines.values(), ledger=ledger)
        except BaseException:
            # Whether it committed is unknown: these heads are read from the store next time.
            self._heads.forget(timelines)
            raise
        self._heads.remember(timelines)
        if ledger.dead_letters:
            self._expire_now_and_then()
        return [r for r in results if r is not None]

    def _keep_dead_letters(
        self, kind: str, caller: Caller, checks: FactChecks, rejected: list[Undecodable],
        ledger: Ledger, now: Any,
    ) -> None:
        """Dead letters for the rejected items, except those naming a member who opted out.

        docs/attribution.md: nothing about an opted-out member is recorded, and a rejected
        item's payload is a record too. The answer to the sender is the same either way.
        """
        named: dict[int, str | None] = {}  # item → the member it names; None: opted out
        for i, item in enumerate(rejected):
            payload = item.payload if isinstance(item.payload, dict) else {}
            member_id, click_id = payload.get("member_id"), payload.get("click_id")
            if isinstance(member_id, str) and member_id:
                if _is_identifier(member_id):  # anything else names no member
                    named[i] = member_id
            elif isinstance(click_id, str) and (click := checks.find_click(click_id)):
                named[i] = click.member_id
        members = [m for m in named.values() if m]
        known = self._load_timelines(members, caller=None) if members else {}
        for i, item in enumerate(rejected):
            if i in named:
                member_id = named[i]
                timeline = known.get(member_id) if member_id else None
                if member_id is None or (timeline is not None and timeline.opted_out):
                    continue
            ledger.dead_letters.append(DeadLetter(
                kind=kind, event_id=item.event_id, field=item.field, reason=item.reason,
                detail=item.detail, received_at=now, actor=caller.actor, payload=item.payload))

    def _drop_duplicates(
        self, plans: list[Plan], results: list[ItemResult | None]
    ) -> tuple[list[Plan], list[Plan]]:
        """The new facts, and the repeats of recorded ones (answered `duplicate`)."""
        by_scope: dict[str, list[Plan]] = defaultdict(list)
        for plan in plans:
            by_scope[plan.scope].append(plan)
        fresh, repeats = [], []
        for scope, scoped in by_scope.items():
            seen = set(self.ledger.find_fact_keys(scope, [p.event_id for p in scoped]))
            for plan in scoped:
                if plan.event_id in seen:
                    results[plan.index] = ItemResult.duplicate(plan.event_id)
                    repeats.append(plan)
                else:
                    seen.add(plan.event_id)  # a repeat later in the same batch is a duplicate
                    fresh.append(plan)
        return sorted(fresh, key=lambda p: p.index), repeats

    def _keep_duplicates(
        self, repeats: list[Plan], timelines: dict[str, MemberTimeline], ledger: Ledger,
        now: Any,
    ) -> None:
        """Ledger entries for the repeats, except those about opted-out members.

        docs/attribution.md: nothing about an opted-out member is recorded, and a copy's payload in
        the duplicate ledger is a record too. Their timelines are read without creating any:
        a repeat must not start a timeline for the member it names.
        """
        if not repeats:
            return
        unknown = [p.member_id for p in repeats if p.member_id and p.member_id not in timelines]
        known = timelines | self._load_timelines(unknown, caller=None)
        for plan in repeats:
            if plan.member_id is None:
                continue  # a click of a member who had opted out named them
            timeline = known.get(plan.member_id)
            if timeline is None or not timeline.opted_out:
                ledger.duplicates.append(DuplicateEntry(
                    scope=plan.scope, event_id=plan.event_id, source=plan.source,
                    received_at=now, payload=plan.payload))

    def _load_timelines(
        self, member_ids: Sequence[str], caller: Caller | None, ledger: Ledger | None = None,
        *, resume: bool = False,
    ) -> dict[str, MemberTimeline]:
        """Every named member's timeline from one query of their keys and heads; with a caller,
        new members get a new timeline with a random id and key, added to `ledger` (ADR 0027).
        With `resume` (recording facts), members are resumed where this process left them if
        it did, without reading them (ADR 0034).

        A member without a key may have a timeline from before ADR 0027, at the id hashed from
        their member id: it is resumed (and given a key from now on) unless it was erased.
        """
        named = wanted = list(dict.fromkeys(member_ids))
        now = self.clock()
        timelines: dict[str, MemberTimeline] = {}
        if resume:
            wanted = self._resume_kept(wanted, timelines, now)
        heads = self.ledger.select_member_heads(wanted, [timeline_id(m) for m in wanted],
                                                CONSENT_TOPICS) if wanted else {}
        ring = self.key_ring
        create = caller is not None and ledger is not None
        erased = MemberTimeline.Erased.TOPIC
        opted_out = MemberTimeline.OptedOut.TOPIC
        for member_id in wanted:
            head = heads.get(member_id)
            if head is not None and head.version is not None and head.consent != erased:
                uuid = head.timeline_id
                timelines[member_id] = MemberTimeline.from_head(
                    uuid, member_id, head.version, head.consent == opted_out, now)
                if head.key is not None:
                    ring.put(uuid, head.key)
                elif create:  # a legacy timeline: sealed from now on
                    assert ledger is not None
                    ring.put(uuid, self._new_key(member_id, uuid, ledger))
            elif create:
                assert caller is not None and ledger is not None
                uuid = new_timeline_id()
                ring.put(uuid, self._new_key(member_id, uuid, ledger))
                timelines[member_id] = MemberTimeline.start(uuid, member_id, caller.actor, now)
        if len(wanted) < len(named):  # in the batch's order, as its events are saved
            return {m: timelines[m] for m in named if m in timelines}
        return timelines

    def _resume_kept(
        self, wanted: list[str], timelines: dict[str, MemberTimeline], now: datetime
    ) -> list[str]:
        """Resume the members whose head this process kept and whose key it still holds, into
        `timelines`; the others, to be read from the store."""
        unread = []
        for member_id in wanted:
            head = self._heads.find(member_id)
            if head is not None and self.key_ring.holds(head[0]):
                # Kept only for members who had not opted out: see application/member_heads.py.
                timelines[member_id] = MemberTimeline.from_head(head[0], member_id, head[1],
                                                                False, now)
            else:
                unread.append(member_id)
        return unread

    @staticmethod
    def _new_key(member_id: str, uuid: UUID, ledger: Ledger) -> bytes:
        key = new_key()
        ledger.member_keys.append((member_id, uuid, key))
        return key


def _is_identifier(value: str) -> bool:
    try:
        check_identifier(value, "member_id")
    except Invalid:
        return False
    return True
