"""Catch-up with the write of one batch overlapping the computing of the next (issue 3, item 7).

A batch is still one transaction of its changes and its tracking positions (ADR 0007), and the
batches still commit in log order; only the next batch is computed while the last one is being
written, by a writer thread on its own connection. The next batch must see the last one's
effects before they are committed, so its reads go through `OverlaySession`: the committed
state (a read-only session), then the changes of every batch handed to the writer and not yet
known to be committed, applied over it in order. Whatever a read returns is thus the state after
all earlier batches, whether or not the writer got to them yet (a batch committed meanwhile is in
both, and merging is idempotent: touches by position, conversions by key, the later version
winning). Members created during the catch-up are answered from memory instead
(projections/attribution/members.py).

That holds only while this catch-up is the one writer of the projection: each write checks,
under the tracking rows' lock, that the positions are the ones its batch was computed from. If
another worker moved them, the write fails with `PipelineConflict`, nothing more is written, and
catch-up goes on batch by batch from the positions in the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from domain.attribution import Touch
from domain.member_timeline import ERASED
from projections.attribution.members import KnownMembers
from projections.attribution.projection import AttributionProjection
from projections.attribution.records import (
    ActionState,
    AttributionChanges,
    AttributionSession,
    AttributionView,
    CampaignState,
    ConversionRecord,
    MemberFacts,
    erased_conversion,
    erased_touch,
)
from projections.base import Envelope
from projections.tracking import advanced, unseen

# Batches handed to the writer and not yet confirmed: enough to keep it busy, few enough that a
# conflict wastes little work.
_DEPTH = 2


class PipelineConflict(Exception):
    """Another writer moved the projection's positions during a pipelined catch-up."""

    def __init__(self, applied: int) -> None:
        super().__init__("the projection's positions moved under a pipelined catch-up")
        self.applied = applied


class OverlaySession(AttributionSession):
    """Committed state read through `reads`, with the changes of pending batches over it, and
    the members this catch-up created from memory."""

    def __init__(self, reads: AttributionSession, pending: Sequence[AttributionChanges],
                 positions: Mapping[str, int], born: KnownMembers) -> None:
        self.reads = reads
        self.pending = pending  # oldest first
        self._positions = dict(positions)
        self.born = born  # already includes the pending batches' changes

    def positions(self) -> dict[str, int]:
        return dict(self._positions)

    def get_actions(self, action_ids: Iterable[str]) -> dict[str, ActionState]:
        ids = set(action_ids)
        found = self.reads.get_actions(ids)
        for changes in self.pending:
            found.update((a, s) for a, s in changes.actions.items() if a in ids)
        return found

    def get_campaigns(self, campaign_ids: Iterable[str]) -> dict[str, CampaignState]:
        ids = set(campaign_ids)
        found = self.reads.get_campaigns(ids)
        for changes in self.pending:
            found.update((c, s) for c, s in changes.campaigns.items() if c in ids)
        return found

    def get_member_ids(self, timeline_ids: Iterable[str]) -> dict[str, str]:
        ids = set(timeline_ids)
        found: dict[str, str] = {}
        for timeline_id in [t for t in ids if t in self.born]:
            found[timeline_id] = self.born.member_id(timeline_id) or ""
            ids.discard(timeline_id)
        found.update(self.reads.get_member_ids(ids))
        for changes in self.pending:
            found.update((t, m) for t, m in changes.members.items() if t in ids)
            found.update((t, ERASED) for t in changes.erased if t in ids)
        return found

    def list_timelines_touching(self, since: Mapping[str, datetime | None]) -> set[str]:
        found = self.reads.list_timelines_touching(since)
        for changes in self.pending:
            for timeline_id, touch in changes.touches:
                if touch.campaign_id in since:
                    moment = since[touch.campaign_id]
                    if moment is None or touch.occurred_at >= moment:
                        found.add(timeline_id)
        return found

    def list_pending_timelines(self, action_ids: Iterable[str]) -> set[str]:
        # A superset is harmless: recomputing a member whose facts did not change changes
        # nothing (the batch writes only outcomes that differ).
        ids = set(action_ids)
        found = self.reads.list_pending_timelines(ids)
        for changes in self.pending:
            found.update(c.timeline_id for c in (*changes.new_conversions,
                                                 *changes.changed_conversions)
                         if c.rules is None and c.action_id in ids)
        return found

    def load_facts(self, timeline_ids: Iterable[str], *, with_conversions_only: bool = False
                   ) -> dict[str, MemberFacts]:
        born: dict[str, MemberFacts] = {}
        ids = []
        for timeline_id in timeline_ids:
            if timeline_id in self.born:
                facts = self.born.facts(timeline_id)
                if facts.conversions or not with_conversions_only:
                    born[timeline_id] = facts
            else:
                ids.append(timeline_id)
        if not ids:
            return born
        found = self._load_stored(ids, with_conversions_only)
        found.update(born)
        return found

    def _load_stored(self, ids: list[str], with_conversions_only: bool
                     ) -> dict[str, MemberFacts]:
        wanted = set(ids)
        touches: dict[str, list[Touch]] = {}
        conversions: dict[str, dict[tuple[str, str], ConversionRecord]] = {}
        for changes in self.pending:
            for timeline_id, touch in changes.touches:
                if timeline_id in wanted:
                    touches.setdefault(timeline_id, []).append(touch)
            for record in (*changes.new_conversions, *changes.changed_conversions):
                if record.timeline_id in wanted:
                    conversions.setdefault(record.timeline_id, {})[record.key] = record
        found = self.reads.load_facts(ids, with_conversions_only=with_conversions_only)
        if with_conversions_only:
            # A member whose only conversions are pending has stored touches all the same.
            missing = [t for t in conversions if t not in found]
            if missing:
                found.update(self.reads.load_facts(missing))
        erased = {t for changes in self.pending for t in changes.erased}
        for timeline_id, facts in found.items():
            _merge(facts, touches.get(timeline_id, ()), conversions.get(timeline_id, {}))
            if timeline_id in erased:  # blanked by a pending batch (ADR 0027)
                facts.touches = [erased_touch(t) for t in facts.touches]
                facts.conversions = [erased_conversion(c) for c in facts.conversions]
        return found

    def save(self, changes: AttributionChanges, positions: Mapping[str, int]) -> None:
        raise NotImplementedError("a pipelined batch is written by the writer thread")


def _merge(facts: MemberFacts, touches: Iterable[Touch],
           conversions: Mapping[tuple[str, str], ConversionRecord]) -> None:
    """Pending facts over stored ones: a touch once (its position is unique), the latest
    version of a conversion."""
    if touches:
        seen = {t.seq for t in facts.touches}
        facts.touches.extend(t for t in touches if t.seq not in seen)
    if conversions:
        stored = {c.key: c for c in facts.conversions}
        stored.update(conversions)
        facts.conversions = list(stored.values())


class _Writer:
    """Writes batches in order on one thread; after any failure it writes nothing more, since
    every later batch was computed over the failed one's changes."""

    def __init__(self, view: AttributionView) -> None:
        self.view = view
        self.failed = False
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catch-up-writer")

    def submit(self, changes: AttributionChanges, before: Mapping[str, int],
               after: Mapping[str, int]) -> Future[None]:
        """Queue one batch's transaction."""
        return self.executor.submit(self._write, changes, before, after)

    def _write(self, changes: AttributionChanges, before: Mapping[str, int],
               after: Mapping[str, int]) -> None:
        if self.failed:
            raise PipelineConflict(0)
        try:
            with self.view.session() as session:
                if session.positions() != before:
                    raise PipelineConflict(0)
                session.save(changes, after)
        except BaseException:
            self.failed = True
            raise


def apply_pipelined(projection: AttributionProjection,
                    pages: Iterable[Sequence[Envelope]]) -> int:
    """Apply the pages in order, writing each while the next is computed; the events applied."""
    with projection.view.reader() as reads:  # one connection for every batch's reads
        return _apply(projection, pages, reads)


def _apply(projection: AttributionProjection, pages: Iterable[Sequence[Envelope]],
           reads: AttributionSession) -> int:
    view = projection.view
    positions = reads.positions()
    applied = 0
    pending: deque[tuple[Future[None], AttributionChanges, int]] = deque()
    writer = _Writer(view)
    born = KnownMembers()

    def settle(keep: int) -> None:
        nonlocal applied
        while len(pending) > keep:
            future, _, count = pending[0]
            try:
                future.result()
            except PipelineConflict:
                raise PipelineConflict(applied) from None
            pending.popleft()
            applied += count

    try:
        for page in pages:
            fresh = unseen(positions, page)
            if fresh:
                overlay = OverlaySession(reads, [c for _, c, _ in pending], positions, born)
                changes = projection.changes_of(overlay, fresh)
                born.learn(changes)
                after = advanced(positions, fresh)
                pending.append((writer.submit(changes, positions, after), changes, len(page)))
                positions = after
            else:
                applied += len(page)
            settle(_DEPTH)
        settle(0)
    finally:
        # Whatever stopped the loop, the batches already handed over are written (or fail)
        # before this returns, as they would have been one by one.
        writer.executor.shutdown(wait=True)
    return applied
