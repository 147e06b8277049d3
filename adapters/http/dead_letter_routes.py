"""GET /v1/dead-letters: the caller's rejected items, newest first (docs/api.md, ADR 0028)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC
from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from adapters.http.read_presenters import From, Limit, To, bad_parameter, parse_instant
from adapters.http.read_schemas import DeadLetterOut, DeadLetterPage
from application.access import Caller
from application.fact_ledger import DeadLetter, DeadLetterQuery
from application.ingestion import IngestionApp

KINDS = ("touch", "conversion")
_CURSOR_PREFIX = "dl:"
_MAX_ID = 2**63 - 1


def encode_cursor(row_id: int) -> str:
    """An opaque keyset cursor: before this row id."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """Inverse of encode_cursor; 400 naming `cursor` for anything else."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        text = ""
    digits = text.removeprefix(_CURSOR_PREFIX)
    if (not text.startswith(_CURSOR_PREFIX) or not digits.isascii() or not digits.isdigit()
            or len(digits) > 19 or int(digits) > _MAX_ID):
        raise bad_parameter("cursor", "not a cursor this API gave out")
    return int(digits)


def dead_letter_out(letter: DeadLetter) -> DeadLetterOut:
    """A dead letter as GET /v1/dead-letters lists it."""
    return DeadLetterOut(letter.event_id, letter.kind, letter.reason, letter.field,
                         letter.detail, letter.received_at.astimezone(UTC), letter.payload,
                         letter.truncated)


class DeadLetterRoutes(Controller):
    """The caller's dead letters (docs/api.md: Dead letters)."""

    path = "/v1"
    tags = ["facts"]

    @get("/dead-letters", sync_to_thread=True,
         summary="The caller's rejected items, newest first")
    def dead_letters(
        self, caller: Caller, ingestion: IngestionApp,
        kind: Annotated[str | None, Parameter(description="touch or conversion")] = None,
        reason: Annotated[str | None, Parameter(description="A rejection reason")] = None,
        from_: From = None, to: To = None, cursor: str | None = None, limit: Limit = 100,
    ) -> DeadLetterPage:
        """An account sees the rejected items of its own batches; the admin token its own."""
        if kind is not None and kind not in KINDS:
            raise bad_parameter("kind", f"kind must be one of {', '.join(KINDS)}")
        if reason is not None and not (0 < len(reason) <= 200):
            raise bad_parameter("reason", "reason must be 1 to 200 characters")
        received_from = parse_instant(from_, "from")
        received_before = parse_instant(to, "to", end=True)
        if received_from and received_before and received_from > received_before:
            raise bad_parameter("from", "from is after to")
        letters = ingestion.list_dead_letters(caller, DeadLetterQuery(
            caller.actor, kind, reason, received_from, received_before, decode_cursor(cursor),
            limit + 1))
        page = letters[:limit]
        return DeadLetterPage(
            items=[dead_letter_out(d) for d in page],
            next_cursor=encode_cursor(page[-1].id) if len(letters) > limit else None)
