"""In-memory stores of the read models, for fast tests and the in-memory container.

They keep the contract of the PostgreSQL stores: a session holds the lock for the whole batch,
reads see only committed state, and its writes and positions apply together when it ends
normally (nothing at all when it raises).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from domain.attribution import Touch
from domain.member_timeline import ERASED
from projections.attribution.records import (
    erased_conversion,
    erased_touch,
    ActionState,
    AttributionChanges,
    AttributionSession,
    AttributionView,
    CampaignState,
    ConversionFilter,
    ConversionRecord,
    CreditRow,
    MemberFacts,
    credit_rows,
)
from projections.audit import (
    AuditChanges,
    AuditFilter,
    AuditRecord,
    AuditScope,
    AuditSession,
    AuditView,
)
from projections.reporting import (
    ReportQueries,
    ReportRequest,
    ReportRow,
    assemble,
    spend_totals,
    total_credits,
)
from projections.tracking import InMemoryTracking


class _MemorySession(AttributionSession):
    def __init__(self, view: InMemoryAttributionView) -> None:
        self.view = view
        self.pending: tuple[AttributionChanges, dict[str, int]] | None = None

    def positions(self) -> dict[str, int]:
        return dict(self.view.positions)

    def get_actions(self, action_ids: Iterable[str]) -> dict[str, ActionState]:
        return {a: self.view.actions[a] for a in action_ids if a in self.view.actions}

    def get_campaigns(self, campaign_ids: Iterable[str]) -> dict[str, CampaignState]:
        return self.view.list_campaigns(campaign_ids)

    def get_member_ids(self, timeline_ids: Iterable[str]) -> dict[str, str]:
        return {t: self.view.members[t] for t in timeline_ids if t in self.view.members}

    def list_timelines_touching(self, since: Mapping[str, datetime | None]) -> set[str]:
        return {timeline_id for timeline_id, touches in self.view.touches.items()
                for t in touches
                if t.campaign_id in since and (since[t.campaign_id] is None
                                               or t.occurred_at >= since[t.campaign_id])}  # type: ignore[operator]

    def list_pending_timelines(self, action_ids: Iterable[str]) -> set[str]:
        wanted = set(action_ids)
        return {c.timeline_id for c in self.view.conversions.values()
                if c.rules is None and c.action_id in wanted}

    def load_facts(self, timeline_ids: Iterable[str], *, with_conversions_only: bool = False
                   ) -> dict[str, MemberFacts]:
        found = {t: self.view.get_member_facts(t) for t in timeline_ids}
        if with_conversions_only:
            return {t: f for t, f in found.items() if f.conversions}
        return found

    def save(self, changes: AttributionChanges, positions: Mapping[str, int]) -> None:
        self.pending = (changes, dict(positions))


class InMemoryAttributionView(InMemoryTracking, AttributionView):
    """The attribution model in dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.members: dict[str, str] = {}
        self.touches: dict[str, list[Touch]] = {}
        self.conversions: dict[tuple[str, str], ConversionRecord] = {}
        self.by_timeline: dict[str, dict[tuple[str, str], ConversionRecord]] = {}
        self.credits: dict[tuple[str, str], list[CreditRow]] = {}
        self.actions: dict[str, ActionState] = {}
        self.campaigns: dict[str, CampaignState] = {}
        self.spend: dict[tuple[str, str], tuple[int, str]] = {}

    @contextmanager
    def session(self) -> Iterator[AttributionSession]:
        with self.lock:
            session = _MemorySession(self)
            yield session
            if session.pending is not None:
                self._apply(*session.pending)

    def _apply(self, changes: AttributionChanges, positions: dict[str, int]) -> None:
        self.members.update(changes.members)
        for timeline_id, touch in changes.touches:
            self.touches.setdefault(timeline_id, []).append(touch)
        for record in (*changes.new_conversions, *changes.changed_conversions):
            self.conversions[record.key] = record
            self.by_timeline.setdefault(record.timeline_id, {})[record.key] = record
            self.credits[record.key] = credit_rows(record)
        self.actions.update(changes.actions)
        self.campaigns.update(changes.campaigns)
        self.spend.update(changes.spend)
        for timeline_id in changes.erased:
            self._erase(timeline_id)
        self.positions.update(positions)

    def _erase(self, timeline_id: str) -> None:
        """The PostgreSQL store's erasure updates (ADR 0027), in memory."""
        if timeline_id in self.members:
            self.members[timeline_id] = ERASED
        self.touches[timeline_id] = [erased_touch(t) for t in self.touches.get(timeline_id, [])]
        for key, record in list(self.by_timeline.get(timeline_id, {}).items()):
            blanked = erased_conversion(record)
            self.conversions[key] = self.by_timeline[timeline_id][key] = blanked
            self.credits[key] = credit_rows(blanked)

    # --- queries ---------------------------------------------------------------------------

    def list_conversions(self, query: ConversionFilter) -> list[ConversionRecord]:
        with self.lock:
            found = [c for c in self.conversions.values() if _matches(c, query, self.credits)]
        found.sort(key=lambda c: (c.occurred_at, c.event_id, c.tag_id), reverse=True)
        return found[:query.limit]

    def find_conversions(self, event_id: str, tag_ids: Iterable[str]) -> list[ConversionRecord]:
        with self.lock:
            return [self.conversions[(t, event_id)] for t in sorted(set(tag_ids))
                    if (t, event_id) in self.conversions]

    def get_member_facts(self, timeline_id: str) -> MemberFacts:
        with self.lock:
            return MemberFacts(timeline_id, list(self.touches.get(timeline_id, [])),
                               list(self.by_timeline.get(timeline_id, {}).values()))

    def get_conversion_window(self, record: ConversionRecord, since: datetime) -> MemberFacts:
        before = (record.occurred_at, record.seq)
        with self.lock:
            touches = [t for t in self.touches.get(record.timeline_id, [])
                       if since <= t.occurred_at <= record.occurred_at]
            conversions = [c for c in self.by_timeline.get(record.timeline_id, {}).values()
                           if c.action_id == record.action_id and c.occurred_at >= since
                           and (c.occurred_at, c.seq) < before]
        return MemberFacts(record.timeline_id, touches, conversions)

    def list_campaigns(self, campaign_ids: Iterable[str]) -> dict[str, CampaignState]:
        with self.lock:
            return {c: self.campaigns[c] for c in campaign_ids if c in self.campaigns}

    def all_credits(self) -> list[CreditRow]:
        """Every counted credit (the in-memory report queries add these up)."""
        with self.lock:
            return [row for rows in self.credits.values() for row in rows]


class InMemoryReportQueries(ReportQueries):
    """Reports added up from the in-memory attribution model."""

    def __init__(self, view: InMemoryAttributionView) -> None:
        self.view = view

    def report(self, request: ReportRequest) -> list[ReportRow]:
        rows = [r for r in self.view.all_credits()
                if r.tag_id in request.tag_ids
                and (request.day_from is None or r.day >= request.day_from)
                and (request.day_to is None or r.day <= request.day_to)]
        with self.view.lock:
            spend = dict(self.view.spend)
        return assemble(request, total_credits(rows, request.group_by),
                        spend_totals(spend, request))


def _matches(record: ConversionRecord, q: ConversionFilter,
             credits: dict[tuple[str, str], list[CreditRow]]) -> bool:
    if record.tag_id not in q.tag_ids:
        return False
    checks = (
        q.action_id is None or record.action_id == q.action_id,
        q.timeline_id is None or record.timeline_id == q.timeline_id,
        q.status is None or record.outcome.status == q.status,
        q.occurred_from is None or record.occurred_at >= q.occurred_from,
        q.occurred_before is None or record.occurred_at < q.occurred_before,
        q.after is None or (record.occurred_at, record.event_id, record.tag_id) < q.after,
        q.campaign_id is None or any(r.campaign_id == q.campaign_id
                                     for r in credits.get(record.key, [])),
    )
    return all(checks)


class _MemoryAuditSession(AuditSession):
    def __init__(self, view: InMemoryAuditView) -> None:
        self.view = view
        self.pending: tuple[AuditChanges, dict[str, int]] | None = None

    def positions(self) -> dict[str, int]:
        return dict(self.view.positions)

    def get_scopes(self, aggregate_ids: Iterable[str]) -> dict[str, AuditScope]:
        return {a: self.view.scopes[a] for a in aggregate_ids if a in self.view.scopes}

    def save(self, changes: AuditChanges, positions: Mapping[str, int]) -> None:
        self.pending = (changes, dict(positions))


class InMemoryAuditView(InMemoryTracking, AuditView):
    """The audit trail in a list."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[AuditRecord] = []
        self.scopes: dict[str, AuditScope] = {}

    @contextmanager
    def session(self) -> Iterator[AuditSession]:
        with self.lock:
            session = _MemoryAuditSession(self)
            yield session
            if session.pending is not None:
                changes, positions = session.pending
                self.records.extend(changes.records)
                self.scopes.update(changes.scopes)
                self.positions.update(positions)

    def list_audit(self, query: AuditFilter) -> list[AuditRecord]:
        with self.lock:
            found = [r for r in self.records if query.matches(r)]
        return sorted(found, key=lambda r: r.position)[:query.limit]
