"""Fact endpoints: touches from the ad platform, server-side conversions, consent."""

from __future__ import annotations

from litestar import Controller, Request, post

from adapters.bootstrap import Container
from adapters.http.auth import require_account, require_admin
from adapters.http.decoding import decode_item, split_batch
from adapters.http.openapi import body_operation
from adapters.http.presenters import batch_out
from adapters.metrics import count_fact_results
from adapters.http.schemas import (
    BatchResults,
    ConsentOut,
    ConversionBatch,
    ConversionItem,
    TouchBatch,
    TouchItem,
)
from application.access import Caller
from application.facts import ConversionIn, TouchIn, Undecodable
from domain.values import Money


def touch_in(item: TouchItem | Undecodable, raw: object) -> TouchIn | Undecodable:
    if isinstance(item, Undecodable):
        return item
    payload = raw if isinstance(raw, dict) else {}
    return TouchIn(item.event_id, item.member_id, item.kind, item.campaign_id, item.occurred_at,
                   payload)


def conversion_in(item: ConversionItem | Undecodable, raw: object) -> ConversionIn | Undecodable:
    if isinstance(item, Undecodable):
        return item
    payload = raw if isinstance(raw, dict) else {}
    value = Money(item.value.amount_minor, item.value.currency) if item.value else None
    return ConversionIn(item.event_id, item.action_id, item.member_id, item.click_id,
                        item.occurred_at, value, payload)


class FactRoutes(Controller):
    """Batches answer per item: accepted, duplicate, or rejected with field and reason."""

    path = "/v1"
    tags = ["facts"]

    @post("/touches", sync_to_thread=True, status_code=200,
          operation_class=body_operation(TouchBatch, "Up to 1,000 impressions and clicks"),
          summary="Record impressions and clicks (admin token)")
    def touches(self, body: bytes, caller: Caller, container: Container) -> BatchResults:
        require_admin(caller)
        items = [touch_in(decode_item(raw, TouchItem), raw) for raw in split_batch(body, "touches")]
        results = container.ingestion.record_touches(caller, items)
        count_fact_results("touch", results)
        return batch_out(results)

    @post("/conversions", sync_to_thread=True, status_code=200,
          operation_class=body_operation(ConversionBatch, "Up to 1,000 conversions"),
          summary="Record server-side conversions (editor role on each action's tag)")
    def conversions(self, body: bytes, caller: Caller, container: Container) -> BatchResults:
        require_account(caller)
        raws = split_batch(body, "conversions")
        items = [conversion_in(decode_item(raw, ConversionItem), raw) for raw in raws]
        results = container.ingestion.record_conversions(caller, items)
        count_fact_results("conversion", results)
        return batch_out(results)

    @post("/members/{member_id:str}/opt-out", sync_to_thread=True, status_code=200,
          summary="Stop recording facts about a member (admin token)")
    def opt_out(self, member_id: str, caller: Caller, container: Container) -> ConsentOut:
        require_admin(caller)
        timeline = container.ingestion.opt_out(caller, member_id)
        return ConsentOut(member_id=member_id, opted_out=timeline.opted_out)

    @post("/members/{member_id:str}/opt-in", sync_to_thread=True, status_code=200,
          summary="Resume recording facts about a member (admin token)")
    def opt_in(self, member_id: str, caller: Caller, container: Container) -> ConsentOut:
        require_admin(caller)
        timeline = container.ingestion.opt_in(caller, member_id)
        return ConsentOut(member_id=member_id, opted_out=timeline.opted_out)
