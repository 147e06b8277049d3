"""Read-side endpoints: explanations, reports and the audit trail (GET /v1/conversions is in
conversion_routes.py). Each decodes its parameters, asks the read service, presents."""

from __future__ import annotations

from typing import Annotated, Any, cast

from litestar import Controller, MediaType, Request, Response, get
from litestar.params import Parameter

from adapters.http.read_presenters import (
    From,
    Limit,
    To,
    bad_parameter,
    explanation_out,
    parse_day,
    parse_group_by,
    parse_instant,
    report_csv,
    report_row_out,
)
from adapters.http.read_schemas import AuditItemOut, AuditPage, ExplanationOut, ReportOut
from application.access import Caller
from application.read_service import AuditQuery, ReadService


class ReadRoutes(Controller):
    """Explanations, reports and audit (docs/api.md: Read side)."""

    path = "/v1"
    tags = ["read side"]

    @get("/conversions/{event_id:str}/explanation", sync_to_thread=True,
         summary="Why a conversion was attributed as it was")
    def explain_conversion(
        self, event_id: str, caller: Caller, reads: ReadService,
        tag_id: Annotated[str | None, Parameter(
            description="The tag, when the event_id exists in several visible tags")] = None,
    ) -> ExplanationOut:
        """The settings, each touch's verdict, the counting decision and the ledger entries."""
        explained = reads.explain_conversion(caller, event_id, tag_id)
        return explanation_out(explained.explanation, explained.duplicates)

    @get("/reports/conversions", sync_to_thread=True, media_type=MediaType.JSON,
         summary="Conversions, value, spend, cost per conversion and ROAS, grouped",
         description="group_by: any of campaign, action, day, kind, category (comma-separated; "
                     "none gives totals). `Accept: text/csv` answers CSV with the same columns.")
    def report(
        self, request: Request[Any, Any, Any], caller: Caller, reads: ReadService,
        from_: Annotated[str | None, Parameter(query="from", description="YYYY-MM-DD")] = None,
        to: Annotated[str | None, Parameter(description="YYYY-MM-DD, inclusive")] = None,
        group_by: str | None = None,
    ) -> Response[ReportOut]:
        """Counted credits added up per group (spend only in groupings of campaign and day)."""
        names = parse_group_by(group_by)
        day_from, day_to = parse_day(from_, "from"), parse_day(to, "to")
        if day_from and day_to and day_from > day_to:
            raise bad_parameter("from", "from is after to")
        rows = reads.report(caller, day_from, day_to, names)
        # Rows and CSV name their campaigns and actions, not only their ids (ADR 0036).
        labels = reads.report_names(caller) if {"campaign", "action"} & set(names) else None
        if "text/csv" in request.headers.get("accept", ""):
            return cast(Response[ReportOut],
                        Response(report_csv(rows, names, labels),
                                 media_type="text/csv; charset=utf-8"))
        return Response(ReportOut(rows=[report_row_out(r, labels) for r in rows]))

    @get("/audit", sync_to_thread=True, summary="The audit trail of management changes")
    def audit(
        self, caller: Caller, reads: ReadService,
        aggregate_id: str | None = None, account_id: str | None = None,
        from_: From = None, to: To = None, cursor: str | None = None, limit: Limit = 100,
    ) -> AuditPage:
        """Events of the caller's own aggregates and of the tags it can see, oldest first."""
        after = 0
        if cursor:
            # isdigit alone admits '²' and other digits int() refuses; a position is a bigint.
            if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
                raise bad_parameter("cursor", "not a cursor this API gave out")
            after = int(cursor)
        records = reads.list_audit(caller, AuditQuery(
            aggregate_id=aggregate_id, account_id=account_id,
            occurred_from=parse_instant(from_, "from"),
            occurred_before=parse_instant(to, "to", end=True), after_position=after,
            limit=limit + 1))
        page = records[:limit]
        return AuditPage(
            items=[AuditItemOut(r.position, r.aggregate_id, r.type, r.occurred_at, r.actor,
                                r.data, r.recorded_at, r.scope.account_id, r.scope.tag_id)
                   for r in page],
            next_cursor=str(page[-1].position) if len(records) > limit else None)
