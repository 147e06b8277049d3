"""The web UI (ADR 0036): its page at `/`, its files under `/ui/static/`, and the OpenAPI
viewer at `/schema`, all served from the package, so a browser needs nothing but convtrack.

The UI is a browser application over the public `/v1` API: the server only hands out files.
Every file is served by convtrack itself (no CDN), the vendored ones copied from pinned npm
packages (`ui/`, `adapters/http/ui/static/vendor/MANIFEST.json`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from litestar import Response, get
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

UI_DIR = Path(__file__).parent / "ui"
STATIC_PATH = "/ui/static"
VENDOR = f"{STATIC_PATH}/vendor"
INDEX = (UI_DIR / "index.html").read_text(encoding="utf-8")


def _inline_script_hashes(page: str) -> str:
    """CSP hash sources of the page's inline scripts: only its import map has one."""
    bodies = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.DOTALL)
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in bodies if body.strip())


# The API key lives in the tab's sessionStorage, readable by any script on the page, so no
# script runs that is not ours or vendored here: no inline code but the hashed import map, no
# eval, no other origin, no framing (ADR 0036: XSS is the risk this design takes).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"script-src 'self' {_inline_script_hashes(INDEX)}; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page itself changes with each release; no cache keeps an old one against a new API.
    "Cache-Control": "no-cache",
}


@get("/", include_in_schema=False, sync_to_thread=False)
def ui_page() -> Response[str]:
    """The single page of the web UI; it signs in and calls `/v1` from the browser."""
    return Response(INDEX, media_type="text/html", headers=PAGE_HEADERS)


def _nosniff(response: Any) -> Any:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# File URLs carry no version, so browsers revalidate each time (a 304 when unchanged).
UI_STATIC = create_static_files_router(
    path=STATIC_PATH, directories=[UI_DIR / "static"], name="ui_static",
    cache_control=CacheControlHeader(no_cache=True), include_in_schema=False,
    after_request=_nosniff)

UI_ROUTES: list[Any] = [ui_page, UI_STATIC]


def openapi_viewer() -> SwaggerRenderPlugin:
    """Swagger UI at `/schema`, from the vendored files instead of litestar's CDN default."""
    return SwaggerRenderPlugin(
        path="/", js_url=f"{VENDOR}/swagger-ui-bundle.js", css_url=f"{VENDOR}/swagger-ui.css",
        standalone_preset_js_url=f"{VENDOR}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/svg+xml' href='{STATIC_PATH}/favicon.svg'>")
