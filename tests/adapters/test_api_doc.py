"""docs/api.md has a "### `METHOD /path`" heading for every operation of the OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
HEADING = re.compile(r"^### `([A-Z]+) (/\S*)`\s*$", re.MULTILINE)


def documented_operations(text: str) -> set[tuple[str, str]]:
    """The (METHOD, path) pairs that api.md gives a heading of their own."""
    return {(method, path) for method, path in HEADING.findall(text)}


def served_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """The (METHOD, path template) pairs of an OpenAPI document."""
    return {(method.upper(), path)
            for path, item in document.get("paths", {}).items()
            for method in item if method in HTTP_METHODS}


def test_every_operation_of_the_openapi_document_is_in_docs_api_md(
    client: TestClient[Litestar],
) -> None:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    served = served_operations(response.json())
    assert served, "the OpenAPI document lists no operations"

    missing = sorted(served - documented_operations(API_DOC.read_text(encoding="utf-8")),
                     key=lambda op: (op[1], op[0]))

    assert not missing, "docs/api.md has no heading for: " + ", ".join(
        f"### `{method} {path}`" for method, path in missing)
