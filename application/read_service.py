"""The read use cases: list conversions, explain one, report, audit, each for one caller.

Every answer is scoped by the caller's access (docs/api.md: Roles and access): conversions and
credits of the tags the caller can see (own and shared, any role), spend and touches of the
campaigns it owns or that a visible action links, audit events of its own aggregates and of the
tags it can see. Filters only narrow within that scope, so another account's ids answer exactly
as ids that do not exist.
The HTTP controllers decode parameters, call one method here and present what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from application.access import Caller
from application.errors import Conflict, Forbidden, NotFound
from application.fact_ledger import DuplicateEntry, FactRecorder
from application.management import ManagementApp
from domain.member_timeline import MemberTimeline, conversion_scope, timeline_id
from projections.attribution.explanation import Explanation, explain
from projections.attribution.records import AttributionQueries, ConversionFilter, ConversionRecord
from projections.audit import AuditFilter, AuditRecord, AuditView
from projections.reporting import ReportQueries, ReportRequest, ReportRow


@dataclass(frozen=True)
class ConversionQuery:
    """GET /v1/conversions' filters, as the caller asked (the scope is added here)."""

    action_id: str | None = None
    campaign_id: str | None = None
    member_id: str | None = None
    status: str | None = None
    tag_id: str | None = None  # one visible tag (an extension: the UI's tag page)
    occurred_from: datetime | None = None  # inclusive
    occurred_before: datetime | None = None  # exclusive
    after: tuple[datetime, str, str] | None = None  # keyset: (occurred_at, event_id, tag_id)
    limit: int = 100


@dataclass(frozen=True)
class AuditQuery:
    """GET /v1/audit's filters, as the caller asked."""

    aggregate_id: str | None = None
    account_id: str | None = None
    occurred_from: datetime | None = None
    occurred_before: datetime | None = None
    after_position: int = 0
    limit: int = 100


@dataclass(frozen=True)
class ReportNames:
    """Names of campaigns and actions by id, for report rows (docs/api.md: reports)."""

    campaigns: dict[str, str]
    actions: dict[str, str]


@dataclass(frozen=True)
class ExplainedConversion:
    """A conversion's explanation and its entries in the duplicate ledger."""

    explanation: Explanation
    duplicates: list[DuplicateEntry]


class ReadService:
    """Answers the read API's questions with only what the caller may see."""

    def __init__(self, management: ManagementApp, ledger: FactRecorder,
                 conversions: AttributionQueries, reports: ReportQueries,
                 audit_trail: AuditView) -> None:
        self.management = management
        self.ledger = ledger
        self.conversions = conversions
        self.reports = reports
        self.audit_trail = audit_trail

    def list_conversions(self, caller: Caller, query: ConversionQuery) -> list[ConversionRecord]:
        """Conversions of the tags the caller can see, newest first, at most `query.limit`."""
        timeline = None
        if query.member_id is not None:
            timeline = self.find_timeline_id(query.member_id)
            if timeline is None:
                return []  # unknown or erased: nobody's conversions
        tags = self.visible_tag_ids(caller)
        if query.tag_id is not None:
            tags = tags & {query.tag_id}  # an invisible tag narrows to nothing, as unknown ids do
        return self.conversions.list_conversions(ConversionFilter(
            tag_ids=tags, action_id=query.action_id,
            campaign_id=query.campaign_id, timeline_id=timeline,
            status=query.status, occurred_from=query.occurred_from,
            occurred_before=query.occurred_before, after=query.after, limit=query.limit))

    def find_timeline_id(self, member_id: str) -> str | None:
        """The member's timeline id through the key table (ADR 0027); a timeline from before
        it has the id hashed from the member id, unless it was erased. None: no such member."""
        keys = self.ledger.select_member_keys([member_id])
        if member_id in keys:
            return str(keys[member_id][0])
        legacy = timeline_id(member_id)
        heads = self.ledger.select_heads([legacy], (MemberTimeline.Erased.TOPIC,))
        if legacy in heads and heads[legacy][1] is None:
            return str(legacy)
        return None

    def explain_conversion(self, caller: Caller, event_id: str, tag_id: str | None = None
                           ) -> ExplainedConversion:
        """Why a visible conversion was attributed as it was; NotFound if none is visible,
        Conflict if the event_id exists in several visible tags and no tag_id narrows it."""
        tags = self.visible_tag_ids(caller)
        if tag_id is not None:
            tags = tags & {tag_id}
        found = self.conversions.find_conversions(event_id, tags)
        if not found:
            raise NotFound(f"no conversion {event_id!r}")
        if len(found) > 1:
            raise Conflict(f"event_id {event_id!r} exists in several of your tags; add ?tag_id=",
                           field="tag_id")
        record = found[0]
        duplicates = self.ledger.list_duplicates(conversion_scope(record.tag_id), record.event_id)
        # The rules weigh every touch of the member, whoever's; the caller is shown only the
        # touches of campaigns it may see, and how many others there were (ADR 0021).
        explanation = explain(self.conversions, record, self.visible_campaign_ids(caller))
        return ExplainedConversion(explanation, duplicates)

    def report(self, caller: Caller, day_from: date | None, day_to: date | None,
               group_by: tuple[str, ...]) -> list[ReportRow]:
        """Counted credits added up per group; spend only where the caller may see it."""
        request = ReportRequest(self.visible_tag_ids(caller), frozenset(), day_from, day_to,
                                group_by)
        if request.with_spend:
            request = replace(request, campaign_ids=self.visible_campaign_ids(caller))
        return self.reports.report(request)

    def report_names(self, caller: Caller) -> ReportNames:
        """The names of the campaigns and actions a report may show the caller, by id."""
        actions = self.management.list_actions(caller, None)
        campaigns = {str(c.id): c.name for c in self.management.list_campaigns(caller)}
        linked = {c for a in actions for c in a.settings.campaign_ids}
        for campaign_id in linked - campaigns.keys():
            # Linked by a visible action: its spend and credits are visible, so its name is.
            found = self.management.find_campaign(campaign_id)
            if found is not None:
                campaigns[campaign_id] = found.name
        return ReportNames(campaigns, {str(a.id): a.settings.name for a in actions})

    def list_audit(self, caller: Caller, query: AuditQuery) -> list[AuditRecord]:
        """Events of the caller's own aggregates and of the tags it can see, oldest first."""
        tags = self.visible_tag_ids(caller)
        if caller.account_id is None:  # list_tags admits accounts only; this never runs
            raise Forbidden("the audit trail is an account's")
        return self.audit_trail.list_audit(AuditFilter(
            account_ids=frozenset({caller.account_id}), tag_ids=tags,
            aggregate_id=query.aggregate_id, account_id=query.account_id,
            occurred_from=query.occurred_from, occurred_before=query.occurred_before,
            after_position=query.after_position, limit=query.limit))

    def visible_tag_ids(self, caller: Caller) -> frozenset[str]:
        """The tags whose conversions the caller may read (own and shared, any role)."""
        return frozenset(str(tag.id) for tag in self.management.list_tags(caller))

    def visible_campaign_ids(self, caller: Caller) -> frozenset[str]:
        """Campaigns whose spend and touches the caller may see: its own, and those that
        visible actions link."""
        own = {str(c.id) for c in self.management.list_campaigns(caller)}
        linked = {c for a in self.management.list_actions(caller, None)
                  for c in a.settings.campaign_ids}
        return frozenset(own | linked)
