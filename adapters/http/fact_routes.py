"""Fact endpoints: touches from the ad platform, members' consent, and erasure."""

from __future__ import annotations

from litestar import Controller, Request, delete, post

from adapters.http.auth import require_admin
from adapters.http.decoding import decode_item, split_batch
from adapters.http.openapi import body_operation
from adapters.http.presenters import batch_out
from adapters.http.schemas import (
    BatchResults,
    ConsentOut,
    ErasureOut,
    TouchBatch,
    TouchItem,
)
from adapters.metrics import count_fact_results
from application.access import Caller
from application.facts import TouchIn, Undecodable
from application.ingestion import IngestionApp


def touch_in(item: TouchItem | Undecodable, raw: object) -> TouchIn | Undecodable:
    if isinstance(item, Undecodable):
        return item
    payload = raw if isinstance(raw, dict) else {}
    return TouchIn(item.event_id, item.member_id, item.kind, item.campaign_id, item.occurred_at,
                   payload)


class FactRoutes(Controller):
    """Batches answer per item: accepted, duplicate, or rejected with field and reason."""

    path = "/v1"
    tags = ["facts"]

    @post("/touches", sync_to_thread=True, status_code=200,
          operation_class=body_operation(TouchBatch, "Up to 1,000 impressions and clicks"),
          summary="Record impressions and clicks (admin token)")
    def touches(self, body: bytes, caller: Caller, ingestion: IngestionApp) -> BatchResults:
        require_admin(caller)
        items = [touch_in(decode_item(raw, TouchItem), raw) for raw in split_batch(body, "touches")]
        results = ingestion.record_touches(caller, items)
        count_fact_results("touch", results)
        return batch_out(results)

    @post("/members/{member_id:str}/opt-out", sync_to_thread=True, status_code=200,
          summary="Stop recording facts about a member (admin token)")
    def opt_out(self, member_id: str, caller: Caller, ingestion: IngestionApp) -> ConsentOut:
        require_admin(caller)
        timeline = ingestion.opt_out(caller, member_id)
        return ConsentOut(member_id=member_id, opted_out=timeline.opted_out)

    @post("/members/{member_id:str}/opt-in", sync_to_thread=True, status_code=200,
          summary="Resume recording facts about a member (admin token)")
    def opt_in(self, member_id: str, caller: Caller, ingestion: IngestionApp) -> ConsentOut:
        require_admin(caller)
        timeline = ingestion.opt_in(caller, member_id)
        return ConsentOut(member_id=member_id, opted_out=timeline.opted_out)

    @delete("/members/{member_id:str}", sync_to_thread=True, status_code=202,
            summary="Erase a member: crypto-shred what names them (admin token)")
    def erase(self, member_id: str, caller: Caller, ingestion: IngestionApp) -> ErasureOut:
        require_admin(caller)
        ingestion.erase(caller, member_id)
        # The same answer whether the member was known or not, and without their id.
        return ErasureOut(status="accepted")
