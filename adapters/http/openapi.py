"""OpenAPI for bodies the handlers decode themselves (batches: one bad item must not fail all).

litestar documents a body only when it decodes it; batch handlers read raw bytes instead, so
their request schema is built here from the msgspec struct and attached to the operation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

import msgspec
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, Operation, RequestBody, Schema

_SCHEMA_FIELDS = {f.name for f in fields(Schema)}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def to_openapi(node: Any, defs: dict[str, Any]) -> Any:
    """A JSON Schema (msgspec's output) as litestar Schema objects, with $refs inlined."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return to_openapi(defs[node["$ref"].rsplit("/", 1)[1]], defs)
    kwargs: dict[str, Any] = {}
    for key, value in node.items():
        name = _snake(key)
        if name not in _SCHEMA_FIELDS:
            continue
        if name == "properties":
            value = {p: to_openapi(s, defs) for p, s in value.items()}
        elif name in ("items", "additional_properties") and isinstance(value, dict):
            value = to_openapi(value, defs)
        elif name in ("any_of", "one_of", "all_of"):
            value = [to_openapi(s, defs) for s in value]
        elif name == "format":
            value = OpenAPIFormat(value)
        kwargs[name] = value
    return Schema(**kwargs)


def body_operation(struct: type[msgspec.Struct], description: str) -> type[Operation]:
    """An Operation class whose request body is documented as `struct`."""
    raw = msgspec.json.schema(struct)
    schema = to_openapi(raw, raw.get("$defs", {}))

    @dataclass
    class DocumentedBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={"application/json": OpenAPIMediaType(schema=schema)},
                description=description, required=True)

    return DocumentedBody
