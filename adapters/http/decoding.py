"""Decoding of batch bodies item by item, so a bad item is answered alone (docs/api.md: batches)."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any, TypeVar

import msgspec

from adapters.http.errors import BadRequest
from application.facts import Undecodable

MAX_BATCH = 1000
T = TypeVar("T", bound=msgspec.Struct)

_PATH = re.compile(r" - at `\$\.?(.*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")


def split_batch(body: bytes, key: str) -> list[Any]:
    """The raw items under `key`; 400 for non-JSON, 422 for a wrong shape, 413 over 1,000."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise BadRequest(400, "invalid_json", f"the body is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get(key), list):
        raise BadRequest(422, "invalid_body", f"the body must be an object with a list {key!r}",
                         key)
    items: list[Any] = document[key]
    if len(items) > MAX_BATCH:
        raise BadRequest(413, "batch_too_large",
                         f"a batch takes at most {MAX_BATCH} items; this one has {len(items)}",
                         key)
    return items


def decode_item(item: Any, struct: type[T]) -> T | Undecodable:
    """One item as `struct`, or an Undecodable naming the field and the reason."""
    event_id = item.get("event_id") if isinstance(item, dict) else None
    event_id = event_id if isinstance(event_id, str) and event_id else None
    try:
        decoded = msgspec.convert(item, struct)
    except msgspec.ValidationError as error:
        field, reason = describe(str(error))
        return Undecodable(event_id, field, reason, str(error), item)
    occurred_at = getattr(decoded, "occurred_at", None)
    if occurred_at is not None and occurred_at.tzinfo is not None:
        try:
            utc = occurred_at.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
            return Undecodable(event_id, "occurred_at", "out_of_range",
                               "the time is outside years 1 to 9999 in UTC", item)
        decoded = msgspec.structs.replace(decoded, occurred_at=utc)
    return decoded


def describe(message: str) -> tuple[str | None, str]:
    """The field path and a reason code from a msgspec validation message."""
    path_match = _PATH.search(message)
    path = path_match.group(1) if path_match else ""
    for pattern, reason in ((_MISSING, "missing_field"), (_UNKNOWN, "unknown_field")):
        match = pattern.search(message)
        if match:
            return (f"{path}.{match.group(1)}" if path else match.group(1)), reason
    if message.startswith("Expected `object`"):
        return (path or None), "not_an_object"
    reason = "invalid_type" if message.startswith("Expected") else "invalid_value"
    return (path or None), reason
