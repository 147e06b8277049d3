"""The browser tag: `GET /insight.js`, and the snippet that loads it (docs/api.md "Collection")."""

from __future__ import annotations

import hashlib
import json
from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Response, get

SCRIPT = (Path(__file__).parent / "static" / "insight.js").read_bytes()
# Strong: the bytes served are exactly these, so equal tags mean equal bytes (RFC 9110 8.8.3).
ETAG = f'"{hashlib.sha256(SCRIPT).hexdigest()[:32]}"'
# The snippet's URL carries no version, so browsers must come back for a new script: an hour
# bounds how long a deploy takes to reach every page, and the ETag makes that check a 304.
CACHING = {"Cache-Control": "public, max-age=3600", "ETag": ETAG}
JAVASCRIPT = "application/javascript; charset=utf-8"


def _matches(if_none_match: str | None) -> bool:
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x"; "*" matches anything.
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return ETAG in tags or "*" in tags


# A static asset for browsers, not part of the JSON API: outside the OpenAPI document (no
# credentials, none of its error bodies), described in docs/api.md instead.
@get("/insight.js", include_in_schema=False, sync_to_thread=False)
def insight_js(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The tag script; 304 when the browser's copy is current."""
    if _matches(request.headers.get("if-none-match")):
        return Response(b"", status_code=304, headers=CACHING)
    return Response(SCRIPT, media_type=JAVASCRIPT, headers=CACHING)


TAG_SCRIPT_ROUTES: list[Any] = [insight_js]


def _js_string(value: str) -> str:
    """A JavaScript string literal that cannot close the <script> element it sits in."""
    # JSON is valid JavaScript; "<" escaped keeps "</script>" and "<!--" out of the element.
    text = json.dumps(value)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text


def queue_stub(tag_id: str) -> str:
    """The snippet's inline script: `window.convtrack` as a call queue, then the tag id.

    Calls made before insight.js arrives wait in `convtrack.q` (as gtag's dataLayer and fbq's
    queue do); the script replays them in order once it runs.
    """
    return ("window.convtrack=window.convtrack||function(){"
            "(convtrack.q=convtrack.q||[]).push(arguments)};"
            f"convtrack('init',{_js_string(tag_id)});")


def snippet_html(tag_id: str, tag_name: str, public_url: str) -> str:
    """The HTML to paste into every page of the tag's domains."""
    src = escape(f"{public_url}/insight.js", quote=True)
    return (f"<!-- convtrack insight tag: {escape(tag_name)} -->\n"
            f"<script>{queue_stub(tag_id)}</script>\n"
            f'<script async src="{src}"></script>\n')
