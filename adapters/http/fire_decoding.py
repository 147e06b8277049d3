"""Fires as browsers send them: the pixel's query string and the beacon's JSON body.

Decoding gives a `FireIn` or None; it never raises and never answers: `/collect` answers every
fire alike (docs/api.md), so a malformed one is only counted (`invalid`).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import msgspec

from application.fires import FireIn
from domain.values import Money

MAX_BODY = 16 * 1024  # a fire is a few hundred bytes; sendBeacon itself allows 64 KiB
_MAX_FIELDS = 16
_MAX_AMOUNT_DIGITS = 16


class ValueBody(msgspec.Struct, frozen=True):
    amount_minor: int
    currency: str


class FireBody(msgspec.Struct, frozen=True):
    """`POST /collect`'s body; unknown fields are ignored (a newer tag script may add some)."""

    tid: str
    url: str
    eid: str
    clid: str | None = None
    aid: str | None = None
    value: ValueBody | None = None


_body_decoder = msgspec.json.Decoder(FireBody)


def fire_from_body(body: bytes) -> FireIn | None:
    """The fire in a beacon's body (JSON, whether sent as text/plain or application/json)."""
    if len(body) > MAX_BODY:
        return None
    try:
        sent = _body_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    value = Money(sent.value.amount_minor, sent.value.currency) if sent.value else None
    return FireIn(tag_id=sent.tid, url=sent.url, event_id=sent.eid, click_id=sent.clid or None,
                  action_id=sent.aid or None, value=value)


def fire_from_query(query_string: bytes) -> FireIn | None:
    """The fire in a pixel's query string: `tid`, `url`, `eid`, and `clid`, `aid`, `v` (the
    amount in minor units) with `cur` when given; the first of repeated parameters counts."""
    if len(query_string) > MAX_BODY:
        return None
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True,
                          encoding="utf-8", errors="strict", max_num_fields=_MAX_FIELDS)
    except (ValueError, UnicodeDecodeError):
        return None
    params: dict[str, str] = {}
    for name, text in pairs:
        params.setdefault(name, text)
    tag_id, url, event_id = params.get("tid"), params.get("url"), params.get("eid")
    if not tag_id or not url or not event_id:
        return None
    amount, currency = params.get("v") or "", params.get("cur") or ""
    value: Money | None = None
    if amount or currency:
        # Both or neither; the amount in whole minor units, as `value.amount_minor` is.
        if (not amount or not currency or not amount.isascii() or not amount.isdigit()
                or len(amount) > _MAX_AMOUNT_DIGITS):
            return None
        value = Money(int(amount), currency)
    return FireIn(tag_id=tag_id, url=url, event_id=event_id, click_id=params.get("clid") or None,
                  action_id=params.get("aid") or None, value=value)
