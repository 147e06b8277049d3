"""The conversions resource: `POST /v1/conversions` records them, `GET` lists them attributed.

One controller for both methods of one path, on purpose: litestar registers a path's methods
once, from one controller (two would each add an OPTIONS handler and registration fails).
"""

from __future__ import annotations

from typing import Literal

from litestar import Controller, get, post

from adapters.http.auth import require_account
from adapters.http.decoding import decode_item, split_batch
from adapters.http.openapi import body_operation
from adapters.http.presenters import batch_out
from adapters.http.read_presenters import (
    From,
    Limit,
    To,
    conversion_out,
    decode_cursor,
    encode_cursor,
    parse_instant,
)
from adapters.http.read_schemas import ConversionPage
from adapters.http.schemas import BatchResults, ConversionBatch, ConversionItem
from adapters.metrics import count_fact_results
from application.access import Caller
from application.facts import ConversionIn, Undecodable
from application.ingestion import IngestionApp
from application.read_service import ConversionQuery, ReadService
from domain.values import Money


def conversion_in(item: ConversionItem | Undecodable, raw: object) -> ConversionIn | Undecodable:
    """A decoded item as the ingestion application takes it (undecodable ones pass through)."""
    if isinstance(item, Undecodable):
        return item
    payload = raw if isinstance(raw, dict) else {}
    value = Money(item.value.amount_minor, item.value.currency) if item.value else None
    return ConversionIn(item.event_id, item.action_id, item.member_id, item.click_id,
                        item.occurred_at, value, payload)


class ConversionRoutes(Controller):
    """Server-side conversions in, attributed conversions out."""

    path = "/v1/conversions"

    @post("/", sync_to_thread=True, status_code=200, tags=["facts"],
          operation_class=body_operation(ConversionBatch, "Up to 1,000 conversions"),
          summary="Record server-side conversions (editor role on each action's tag)")
    def conversions(self, body: bytes, caller: Caller, ingestion: IngestionApp) -> BatchResults:
        require_account(caller)
        raws = split_batch(body, "conversions")
        items = [conversion_in(decode_item(raw, ConversionItem), raw) for raw in raws]
        results = ingestion.record_conversions(caller, items)
        count_fact_results("conversion", results)
        return batch_out(results)

    @get("/", sync_to_thread=True, tags=["facts", "read side"],
         summary="List attributed conversions")
    def list_conversions(
        self, caller: Caller, reads: ReadService,
        action_id: str | None = None, campaign_id: str | None = None,
        member_id: str | None = None,
        status: Literal["attributed", "deduplicated", "unattributed"] | None = None,
        from_: From = None, to: To = None, cursor: str | None = None, limit: Limit = 100,
        tag_id: str | None = None,
    ) -> ConversionPage:
        """Conversions of the tags the caller can see, newest first, with an opaque cursor."""
        found = reads.list_conversions(caller, ConversionQuery(
            action_id=action_id, campaign_id=campaign_id, member_id=member_id, status=status,
            tag_id=tag_id, occurred_from=parse_instant(from_, "from"),
            occurred_before=parse_instant(to, "to", end=True), after=decode_cursor(cursor),
            limit=limit + 1))  # one more tells whether there is a next page
        page = found[:limit]
        next_cursor = encode_cursor(page[-1]) if len(found) > limit else None
        return ConversionPage(items=[conversion_out(r) for r in page], next_cursor=next_cursor)
