"""The one map from exceptions to HTTP answers (docs/api.md: Errors)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from adapters.http.schemas import ErrorBody
from application.clicks import ClickNotFound
from application.errors import (
    ApplicationError,
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    UnknownReference,
)
from domain.validation import Invalid

log = logging.getLogger("convtrack.http")

STATUS_OF: dict[type[ApplicationError], tuple[int, str]] = {
    NotAuthenticated: (401, "unauthenticated"),
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    UnknownReference: (422, "unknown_reference"),
}
HTTP_CODES = {400: "invalid_json", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large",
              415: "unsupported_media_type", 422: "invalid_body", 429: "rate_limited",
              503: "unavailable"}
# How long a client waits before it sends again: about one bounded wait for a connection
# (CONVTRACK_DB_TIMEOUT, 3 s by default), so it does not hammer a database coming back.
RETRY_AFTER_SECONDS = 3
# The store's failures that mean "not now" rather than "never": a lost connection, no
# connection in time, a lock or statement timeout. The composition root adds the drivers' own
# (psycopg's OperationalError, which this package may not import).
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, ConnectionError)


class BadRequest(HTTPException):
    """A 4xx raised by the HTTP layer itself, with docs/api.md's error body."""

    def __init__(self, status: int, error: str, detail: str, field: str | None = None) -> None:
        super().__init__(status_code=status, detail=detail)
        self.error = error
        self.field = field


def error_response(status: int, error: str, detail: str, field: str | None,
                   headers: dict[str, str] | None = None) -> Response[ErrorBody]:
    """docs/api.md's error body."""
    return Response(ErrorBody(error=error, detail=detail, field=field), status_code=status,
                    media_type=MediaType.JSON, headers=headers)


def on_application_error(_: Request[Any, Any, Any], exc: ApplicationError) -> Response[ErrorBody]:
    status, error = STATUS_OF.get(type(exc), (400, "bad_request"))
    return error_response(status, error, exc.detail, exc.field)


def on_invalid(_: Request[Any, Any, Any], exc: Invalid) -> Response[ErrorBody]:
    return error_response(422, exc.code, exc.detail, exc.field)


_MISSING = re.compile(r"missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")


def on_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    """litestar's msgspec decoding errors: 422 naming the field, or 400 if it is not JSON."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    if not problems:
        return error_response(400, "invalid_json", f"the body is not valid JSON: {exc.detail}",
                              None)
    first = problems[0] if isinstance(problems[0], dict) else {}
    message = str(first.get("message", exc.detail))
    if first.get("source") in ("query", "path", "header", "cookie"):
        return error_response(400, "invalid_parameter", message, first.get("key"))
    key = first.get("key")
    field = None if key in (None, "data") else str(key)
    for pattern in (_MISSING, _UNKNOWN):
        match = pattern.search(message)
        if match:
            field = f"{field}.{match.group(1)}" if field else match.group(1)
    return error_response(422, "invalid_body", message, field)


def on_http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    if isinstance(exc, BadRequest):
        return error_response(exc.status_code, exc.error, exc.detail, exc.field)
    code = HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, exc.detail, None)


def on_too_deep(_: Request[Any, Any, Any], exc: RecursionError) -> Response[ErrorBody]:
    # msgspec decodes recursively: a body nested thousands deep exhausts the stack. It is bad
    # input like any other, answered before anything is recorded.
    return error_response(400, "invalid_json", "the body is nested too deeply", None)


def on_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    """503 + Retry-After: the database is unreachable or timed out; nothing half-done remains
    (a batch is one transaction), and a resend is idempotent by event_id."""
    log.warning("store unavailable: %s", exc, extra={"path": request.url.path,
                                                     "error": type(exc).__name__})
    return error_response(503, "unavailable",
                          "the database is unreachable or timed out; send again later",
                          None, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


# A browser followed a click URL: a page, not JSON, and no reason (ADR 0030).
NOT_FOUND_PAGE = (b"<!doctype html><meta charset=utf-8><title>Link not found</title>"
                  b"<p>This link does not exist or has expired.\n")


def on_link_not_found(_: Request[Any, Any, Any], exc: ClickNotFound) -> Response[bytes]:
    return Response(NOT_FOUND_PAGE, status_code=404, media_type=MediaType.HTML,
                    headers={"Cache-Control": "no-store"})


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error", extra={"path": request.url.path})
    return error_response(500, "internal_error", "something went wrong on our side", None)


Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]
EXCEPTION_HANDLERS: dict[type[Exception], Handler] = {
    ApplicationError: on_application_error,
    ClickNotFound: on_link_not_found,
    Invalid: on_invalid,
    ValidationException: on_validation,
    HTTPException: on_http_error,
    RecursionError: on_too_deep,
    **{error: on_unavailable for error in UNAVAILABLE},
    Exception: on_unexpected,
}


def exception_handlers(unavailable: Iterable[type[Exception]] = ()
                       ) -> dict[type[Exception], Handler]:
    """The map, with the drivers' errors that also mean "unavailable" (from the root)."""
    return EXCEPTION_HANDLERS | {error: on_unavailable for error in unavailable}
