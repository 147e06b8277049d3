"""Read-side endpoints: conversions, their explanations, reports and the audit trail.

Every answer is scoped by the caller's access (API.md: viewers read conversions, reports and
audit of the tag): conversions and credits of the tags the caller can see, spend of the
campaigns it owns or that a visible action links. Conversions page newest first.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from litestar import Controller, MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from adapters.bootstrap import Container
from adapters.http.fact_routes import FactRoutes
from adapters.http.read_presenters import (
    bad_parameter,
    conversion_out,
    decode_cursor,
    encode_cursor,
    explanation_out,
    parse_day,
    parse_group_by,
    parse_instant,
    report_csv,
    report_row_out,
)
from adapters.http.read_schemas import (
    AuditItemOut,
    AuditPage,
    ConversionPage,
    ExplanationOut,
    ReportOut,
)
from adapters.read_side import ReadModels
from application.access import Caller
from application.errors import Conflict, NotFound
from domain.member_timeline import timeline_id
from projections.attribution_view import ConversionFilter
from projections.audit import AuditFilter
from projections.explanation import explain
from projections.reporting import ReportRequest

MAX_PAGE = 1000
Limit = Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="Page size (default 100)")]
From = Annotated[str | None, Parameter(query="from", description="RFC 3339 time or YYYY-MM-DD")]
To = Annotated[str | None, Parameter(query="to", description="RFC 3339 time or YYYY-MM-DD "
                                                            "(a day includes all of it)")]


def provide_read_models(state: State) -> ReadModels:
    """The read models, kept in the app's state."""
    read_models: ReadModels = state.read_models
    return read_models


def visible_tag_ids(container: Container, caller: Caller) -> frozenset[str]:
    """The tags whose conversions the caller may read (own and shared, any role)."""
    return frozenset(str(tag.id) for tag in container.management.list_tags(caller))


def visible_campaign_ids(container: Container, caller: Caller) -> frozenset[str]:
    """Campaigns whose spend the caller may see: its own, and those visible actions link."""
    own = {str(c.id) for c in container.management.list_campaigns(caller)}
    linked = {c for a in container.management.list_actions(caller, None)
              for c in a.settings.campaign_ids}
    return frozenset(own | linked)


class ReadRoutes(Controller):
    """Attributed conversions, explanations, reports and audit (API.md: Read side)."""

    path = "/v1"
    tags = ["read side"]

    @get("/conversions/{event_id:str}/explanation", sync_to_thread=True,
         summary="Why a conversion was attributed as it was")
    def explain_conversion(
        self, event_id: str, caller: Caller, container: Container, read_models: ReadModels,
        tag_id: Annotated[str | None, Parameter(
            description="The tag, when the event_id exists in several visible tags")] = None,
    ) -> ExplanationOut:
        """The settings, each touch's verdict, the counting decision and the ledger entries."""
        tags = visible_tag_ids(container, caller)
        if tag_id is not None:
            tags = tags & {tag_id}
        found = read_models.conversions.find_conversions(event_id, tags)
        if not found:
            raise NotFound(f"no conversion {event_id!r}")
        if len(found) > 1:
            raise Conflict(f"event_id {event_id!r} exists in several of your tags; add ?tag_id=",
                           field="tag_id")
        record = found[0]
        duplicates = container.ingestion.ledger.list_duplicates(f"conversion:{record.tag_id}",
                                                                record.event_id)
        return explanation_out(explain(read_models.conversions, record), duplicates)

    @get("/reports/conversions", sync_to_thread=True, media_type=MediaType.JSON,
         summary="Conversions, value, spend, cost per conversion and ROAS, grouped",
         description="group_by: any of campaign, action, day, kind, category (comma-separated; "
                     "none gives totals). `Accept: text/csv` answers CSV with the same columns.")
    def report(
        self, request: Request[Any, Any, Any], caller: Caller, container: Container,
        read_models: ReadModels,
        from_: Annotated[str | None, Parameter(query="from", description="YYYY-MM-DD")] = None,
        to: Annotated[str | None, Parameter(description="YYYY-MM-DD, inclusive")] = None,
        group_by: str | None = None,
    ) -> Response[ReportOut]:
        """Counted credits added up per group (spend only in campaign[/day] groupings)."""
        names = parse_group_by(group_by)
        day_from, day_to = parse_day(from_, "from"), parse_day(to, "to")
        if day_from and day_to and day_from > day_to:
            raise bad_parameter("from", "from is after to")
        spend_ids = visible_campaign_ids(container, caller) if "campaign" in names \
            else frozenset()
        rows = read_models.reports.report(ReportRequest(
            visible_tag_ids(container, caller), spend_ids, day_from, day_to, names))
        if "text/csv" in request.headers.get("accept", ""):
            return cast(Response[ReportOut],
                        Response(report_csv(rows, names), media_type="text/csv; charset=utf-8"))
        return Response(ReportOut(rows=[report_row_out(r) for r in rows]))

    @get("/audit", sync_to_thread=True, summary="The audit trail of management changes")
    def audit(
        self, caller: Caller, container: Container, read_models: ReadModels,
        aggregate_id: str | None = None, account_id: str | None = None,
        from_: From = None, to: To = None, cursor: str | None = None, limit: Limit = 100,
    ) -> AuditPage:
        """Events of the caller's own aggregates and of the tags it can see, oldest first."""
        after = 0
        if cursor:
            if not cursor.isdigit():
                raise bad_parameter("cursor", "not a cursor this API gave out")
            after = int(cursor)
        tags = visible_tag_ids(container, caller)
        assert caller.account_id is not None  # list_tags admits accounts only
        records = read_models.audit_trail.list_audit(AuditFilter(
            account_ids=frozenset({caller.account_id}), tag_ids=tags, aggregate_id=aggregate_id,
            account_id=account_id, occurred_from=parse_instant(from_, "from"),
            occurred_before=parse_instant(to, "to", end=True), after_position=after,
            limit=limit + 1))
        page = records[:limit]
        return AuditPage(
            items=[AuditItemOut(r.position, r.aggregate_id, r.type, r.occurred_at, r.actor,
                                r.data, r.recorded_at, r.scope.account_id, r.scope.tag_id)
                   for r in page],
            next_cursor=str(page[-1].position) if len(records) > limit else None)


class FactAndConversionRoutes(FactRoutes):
    """The fact endpoints plus GET /v1/conversions.

    litestar 2.25 cannot serve one path's methods from two controllers (each adds its own
    OPTIONS handler and registration fails), so the read handler joins POST /v1/conversions'
    controller by inheritance; app.py registers this class in place of FactRoutes.
    """

    @get("/conversions", sync_to_thread=True, tags=["read side"],
         summary="List attributed conversions")
    def list_conversions(
        self, caller: Caller, container: Container, read_models: ReadModels,
        action_id: str | None = None, campaign_id: str | None = None,
        member_id: str | None = None,
        status: Literal["attributed", "deduplicated", "unattributed"] | None = None,
        from_: From = None, to: To = None, cursor: str | None = None, limit: Limit = 100,
    ) -> ConversionPage:
        """Conversions of the tags the caller can see, newest first, with an opaque cursor."""
        query = ConversionFilter(
            tag_ids=visible_tag_ids(container, caller), action_id=action_id,
            campaign_id=campaign_id,
            timeline_id=None if member_id is None else str(timeline_id(member_id)),
            status=status, occurred_from=parse_instant(from_, "from"),
            occurred_before=parse_instant(to, "to", end=True), after=decode_cursor(cursor),
            limit=limit + 1)  # one more tells whether there is a next page
        found = read_models.conversions.list_conversions(query)
        page = found[:limit]
        next_cursor = encode_cursor(page[-1]) if len(found) > limit else None
        return ConversionPage(items=[conversion_out(r) for r in page], next_cursor=next_cursor)
