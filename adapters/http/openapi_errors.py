"""The error answers of docs/api.md in the OpenAPI document, for every operation that can give
them.

litestar documents only a 400 with its own `ValidationException` shape (`status_code`, `detail`,
`extra`), which is not what errors.py answers. This replaces it with docs/api.md's error body and
adds the statuses each operation can answer, so clients and schemathesis see the real contract.
"""

from __future__ import annotations

import msgspec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
)

from adapters.http.openapi import to_openapi
from adapters.http.schemas import ErrorBody

ERROR_SCHEMA = "ErrorBody"
DESCRIPTIONS = {
    400: "The body is not JSON, or a query parameter is malformed",
    401: "No credentials, or credentials that match nothing",
    403: "Authenticated, but not allowed",
    404: "Unknown, or not visible to the caller",
    409: "Conflicts with the resource's state (e.g. an archived action edited)",
    413: "More than 1,000 items in a batch",
    422: "Invalid body, or a reference to an unknown id; `field` names the field",
    429: "Past the credential's request rate (`CONVTRACK_API_RATE`); send again after "
         "`Retry-After` seconds",
    503: "The database is unreachable or timed out, or (for batches) the service is "
         "overloaded; send again after `Retry-After` seconds",
}
# Calls anyone may make without credentials (docs/architecture.md: liveness and metrics; and
# the collector, which answers every fire alike and never with an error, docs/api.md).
PUBLIC = {"/health", "/metrics", "/collect"}
BATCHES = {"/v1/touches", "/v1/conversions"}
NO_CONFLICT = ("/debug", "/opt-out", "/opt-in", "/rebuilds", "/members/{member_id}")


def document_error_responses(openapi: OpenAPI) -> OpenAPI:
    """Add docs/api.md's error body, for the statuses each operation can answer, in place."""
    raw = msgspec.json.schema(ErrorBody)
    schemas = openapi.components.schemas if openapi.components.schemas is not None else {}
    schemas[ERROR_SCHEMA] = to_openapi(raw, raw.get("$defs", {}))
    openapi.components.schemas = schemas
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(item, method)
            if isinstance(operation, Operation):
                _document(operation, path, method)
    return openapi


def _document(operation: Operation, path: str, method: str) -> None:
    statuses = set(_statuses(operation, path, method))
    responses = operation.responses if operation.responses is not None else {}
    no_content = responses.get("204")
    if isinstance(no_content, OpenAPIResponse):
        # litestar documents a `Response[None]` as a JSON null; a 204 has no body (RFC 9110 15.3.5).
        no_content.content = None
    for status in sorted(statuses):
        responses[str(status)] = OpenAPIResponse(
            description=DESCRIPTIONS[status],
            content={"application/json": OpenAPIMediaType(
                schema=Reference(f"#/components/schemas/{ERROR_SCHEMA}"))})
    operation.responses = responses


def _statuses(operation: Operation, path: str, method: str) -> list[int]:
    statuses = [400] if "400" in (operation.responses or {}) else []  # litestar's, replaced
    if path in PUBLIC:
        return statuses
    statuses.append(503)  # every call but the public ones reads or writes the database
    statuses += [401, 403, 429]  # 429: admission control's per-credential rate (ADR 0026)
    if "{" in path or any(getattr(p, "name", "").endswith("_id")
                          for p in operation.parameters or []):
        statuses.append(404)  # an unknown id in the path, or a filter naming an invisible tag
    if operation.parameters or operation.request_body is not None:
        statuses.append(400)
    if operation.request_body is not None or method != "get":
        statuses.append(422)  # a body's field, or a path id that can never be one (opt-out)
    if path in BATCHES and method == "post":
        statuses.append(413)
    elif method != "get" and not path.endswith(NO_CONFLICT):
        # An archived thing edited, a grant to the owner, or a concurrent change that kept
        # losing its race (application/management_base.py).
        statuses.append(409)
    return statuses

