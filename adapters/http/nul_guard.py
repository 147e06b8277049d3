"""Requests whose path or query string holds a NUL character are answered 400 up front.

No id, name or filter of docs/api.md can contain U+0000, and PostgreSQL text cannot hold it: a NUL
reaching a query failed it with a 500 (found by schemathesis on the read side). One ASGI
middleware refuses them all, naming the parameter, with docs/api.md's error body.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from adapters.http.schemas import ErrorBody


def reject_nul_bytes(app: ASGIApp) -> ASGIApp:
    """Wrap the app: 400 `invalid_parameter` for a NUL in the path or the query string."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        # /collect answers every fire alike, malformed ones too (docs/api.md), and checks its
        # parameters itself (application/fires.py: check_fire).
        if scope["type"] == ScopeType.HTTP and scope.get("path") != "/collect":
            field = _field_with_nul(scope)
            if field is not None:
                await _refuse(send, field or None)
                return
        await app(scope, receive, send)

    return guarded


def _field_with_nul(scope: Scope) -> str | None:
    """The query parameter holding a NUL, "" for the path, None when there is none."""
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" in query or "\x00" in query:
        for name, value in parse_qsl(query, keep_blank_values=True):
            if "\x00" in name + value:
                return name.replace("\x00", "")
        return ""
    return "" if "\x00" in scope.get("path", "") else None


async def _refuse(send: Send, field: str | None) -> None:
    body = msgspec.json.encode(ErrorBody(
        error="invalid_parameter", field=field,
        detail="a NUL character (U+0000) is never part of an id, name or filter"))
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
