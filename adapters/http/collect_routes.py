"""`GET /collect` (the pixel) and `POST /collect` (the beacon): fires from the insight tag.

docs/api.md, Collection: the pixel always answers 200 with the same 43-byte GIF and the beacon
always 204, with the same headers, whatever was decided and however malformed the fire: a page
cannot probe the rules. The headers vary only with the request's `Origin` (CORS, echoed with
credentials allowed, so the `ct_mid` cookie comes along); there is never a `Set-Cookie`. The
fire is decided by the collector (application/collector.py) and counted by outcome.

`GET` and `POST /collect` are the service's hot path (every page view of every advertiser), so
`serve_collect_directly` answers them as plain ASGI ahead of litestar's routing, dependency
injection and response machinery, which cost more than the decision itself (bench/collect.py).
The litestar handlers below stay: they document the operations in the OpenAPI document, answer
the preflight and the paths the direct route leaves to them (`/collect/`), and give the same
answers through the same `CollectGate`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import _unquote as unquote_cookie
from typing import Any
from urllib.parse import unquote

from litestar import Request, Response, get, post, route
from litestar.enums import HttpMethod, ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from adapters.http.admission import TokenBuckets
from adapters.http.fire_decoding import MAX_BODY, fire_from_body, fire_from_query
from adapters.http.member_routes import MEMBER_COOKIE, PIXEL
from adapters.http.ops_routes import RouteMetrics
from adapters.metrics import count_fire
from application.collector import Collector
from application.fires import RATE_LIMITED, UNAVAILABLE, FireIn

_log = logging.getLogger("convtrack.collector")

# An Origin is "null" or scheme://host[:port] (RFC 6454 7.1); anything else is not echoed.
_ORIGIN = re.compile(r"null|https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\]"
                     r"(?::[0-9]{1,5})?")
_HEADER_LIST = re.compile(r"[A-Za-z0-9\-, ]{1,200}")
MEMBER_RATE = 10.0  # fires a second per member (docs/api.md, ADR 0033)
MEMBER_BUCKETS = 100_000  # members remembered per process (~100 bytes each)


@dataclass
class CollectGate:
    """What `/collect` runs through: the per-address rate, then the collector."""

    collector: Collector
    address_buckets: TokenBuckets | None  # None: no per-address limit
    proxy_hops: int = 0  # trusted reverse proxies in front (X-Forwarded-For), ADR 0033

    async def take(self, scope: Any, fire: FireIn | None, user_agent: str | None,
                   member_cookie: str | None) -> None:
        """Decide and count one fire (`member_cookie`: the `ct_mid` value); never raises."""
        if (self.address_buckets is not None
                and self.address_buckets.take(client_address(scope, self.proxy_hops)) > 0):
            count_fire(RATE_LIMITED, None)
            return
        try:
            verdict = await self.collector.collect(fire, user_agent, member_cookie)
        except Exception:
            # The page gets its answer whatever happened here; the fire is lost and counted.
            _log.exception("collector: a fire failed")
            count_fire(UNAVAILABLE, None)
            return
        count_fire(verdict.outcome, verdict.tag_id)


def member_admission(rate: float = MEMBER_RATE, max_keys: int = MEMBER_BUCKETS
                     ) -> Callable[[str], bool]:
    """Whether a member may fire now: a token bucket per member (ADR 0033), keyed by a digest
    so a long member id costs no more memory than a short one."""
    buckets = TokenBuckets(rate, max_keys)
    return lambda member: buckets.take(
        hashlib.blake2b(member.encode("utf-8", "replace"), digest_size=16).digest()) == 0


def client_address(scope: Any, proxy_hops: int) -> bytes:
    """The bucket key of the client's address: the peer's, or with `proxy_hops` trusted proxies
    the address the farthest trusted one saw in `X-Forwarded-For`; IPv6 by its /64."""
    # A client can write any X-Forwarded-For it likes; only the entries our own proxies
    # appended (the last `proxy_hops` of them) are trusted, never by default.
    peer = (scope.get("client") or ("", 0))[0]
    if proxy_hops > 0:
        forwarded = [h.decode("latin-1") for n, h in scope.get("headers", ())
                     if n == b"x-forwarded-for"]
        hops = [a.strip() for a in ",".join(forwarded).split(",") if a.strip()]
        if hops:
            peer = hops[-min(proxy_hops, len(hops))]
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer.encode("latin-1", "replace")[:64]
    if address.version == 6:
        # One subscriber gets a whole /64 and may use any address in it (RFC 6177).
        return ipaddress.ip_network(f"{address}/64", strict=False).network_address.packed[:8]
    return address.packed


def member_cookie_of(cookie_header: str | None) -> str | None:
    """The `ct_mid` value in a `Cookie` header, read by litestar's rule (`request.cookies`):
    pairs split at `;` and the first `=`, names and values stripped, the last pair of a name
    wins, values unquoted then percent-decoded."""
    if not cookie_header or MEMBER_COOKIE not in cookie_header:
        return None
    found = None
    for pair in cookie_header.split(";"):
        name, equals, value = pair.partition("=")
        if equals and name.strip() == MEMBER_COOKIE:
            found = value.strip()
    return None if found is None else unquote(unquote_cookie(found))


def _cors(origin: str | None) -> dict[str, str]:
    """The headers every answer of /collect carries: they depend on the request's Origin,
    never on the fire."""
    headers = {"Cache-Control": "no-store", "Vary": "Origin",
               # A page with Cross-Origin-Embedder-Policy may still load the pixel.
               "Cross-Origin-Resource-Policy": "cross-origin"}
    if origin and _ORIGIN.fullmatch(origin):
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def _answer(request: Request[Any, Any, Any], status: int, body: bytes | None) -> Response[Any]:
    """The one answer of /collect: it depends on the request's Origin, never on the fire."""
    headers = _cors(request.headers.get("origin"))
    if body is None:
        return Response(None, status_code=status, headers=headers)
    return Response(body, status_code=status, media_type="image/gif", headers=headers)


async def _take(request: Request[Any, Any, Any], gate: CollectGate, fire: FireIn | None) -> None:
    await gate.take(request.scope, fire, request.headers.get("user-agent"),
                    member_cookie_of(request.headers.get("cookie")))


@get("/collect", tags=["collection"], security=[], include_in_schema=True,
     summary="A fire as a 1x1 pixel (always the same 43-byte GIF)", media_type="image/gif")
async def collect_pixel(request: Request[Any, Any, Any], collect_gate: CollectGate
                        ) -> Response[Any]:
    """`?tid=&url=&eid=[&clid=][&aid=&v=&cur=]`; 200 `image/gif` whatever was decided."""
    await _take(request, collect_gate, fire_from_query(request.scope.get("query_string", b"")))
    return _answer(request, 200, PIXEL)


@post("/collect", tags=["collection"], security=[], status_code=204,
      request_max_body_size=MAX_BODY, summary="A fire by sendBeacon (always 204)")
async def collect_beacon(request: Request[Any, Any, Any], collect_gate: CollectGate
                         ) -> Response[None]:
    """`{"tid", "url", "eid", "clid"?, "aid"?, "value"?}` as text/plain or JSON; 204."""
    try:
        body: bytes | None = await request.body()
    except Exception:
        body = None  # too large, or the client went away: malformed, answered alike
    fire = fire_from_body(body) if body is not None and len(body) <= MAX_BODY else None
    await _take(request, collect_gate, fire)
    return _answer(request, 204, None)


@route("/collect", http_method=[HttpMethod.OPTIONS], include_in_schema=False, status_code=204)
async def collect_preflight(request: Request[Any, Any, Any]) -> Response[None]:
    """CORS preflight (a beacon sent as application/json needs one): any origin may send."""
    response = _answer(request, 204, None)
    asked = request.headers.get("access-control-request-headers")
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = (
        asked if asked and _HEADER_LIST.fullmatch(asked) else "Content-Type")
    response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Vary"] = "Origin, Access-Control-Request-Headers"
    return response


# The preflight first: litestar adds its own OPTIONS handler to a path registered without one.
COLLECT_ROUTES: list[Any] = [collect_preflight, collect_pixel, collect_beacon]


# The answers of the direct route, as litestar's Response renders `_answer`'s (the same headers
# in the same order), built once per distinct allowed Origin.
_PIXEL_TAIL = [(b"content-type", b"image/gif"), (b"content-length", str(len(PIXEL)).encode())]
_MAX_ORIGINS = 1000  # origins whose header lists are kept


def _raw_headers(origin: str | None) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in _cors(origin).items()]


def serve_collect_directly(app: ASGIApp, gate: CollectGate, metrics: RouteMetrics | None = None
                           ) -> ASGIApp:
    """Wrap the litestar app: `GET` and `POST /collect` are answered here, everything else
    goes on to `app`. The answers and what is decided are the litestar handlers' (same
    headers, same body limit, same `CollectGate`); `metrics` keeps the HTTP request series the
    Prometheus middleware would have kept for the route."""
    by_origin: dict[str | None, tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]] = {}

    def answers(origin: str | None) -> tuple[list[tuple[bytes, bytes]],
                                             list[tuple[bytes, bytes]]]:
        # An Origin that is not echoed gets the answer of none (and is not kept).
        allowed = origin if origin and _ORIGIN.fullmatch(origin) else None
        found = by_origin.get(allowed)
        if found is None:
            headers = _raw_headers(allowed)
            found = (headers + _PIXEL_TAIL, headers)
            if len(by_origin) < _MAX_ORIGINS:
                by_origin[allowed] = found
        return found

    async def collect(scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != ScopeType.HTTP or scope["path"] != "/collect"
                or scope["method"] not in ("GET", "POST")):
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]
        status = 200 if method == "GET" else 204
        if metrics is not None:
            metrics.started(method)
        try:
            origin = user_agent = cookie = None
            for name, value in scope["headers"]:
                # The first of repeated headers, as litestar's `request.headers.get` reads them.
                if name == b"origin":
                    origin = value.decode("latin-1") if origin is None else origin
                elif name == b"user-agent":
                    user_agent = value.decode("latin-1") if user_agent is None else user_agent
                elif name == b"cookie":
                    cookie = value.decode("latin-1") if cookie is None else cookie
            if method == "GET":
                fire = fire_from_query(scope.get("query_string", b""))
            else:
                body = await _read_body(receive)
                fire = fire_from_body(body) if body is not None else None
            await gate.take(scope, fire, user_agent, member_cookie_of(cookie))
            pixel, beacon = answers(origin)
            await send({"type": "http.response.start", "status": status,
                        "headers": list(pixel if method == "GET" else beacon)})
            await send({"type": "http.response.body",
                        "body": PIXEL if method == "GET" else b"", "more_body": False})
        finally:
            if metrics is not None:
                metrics.finished(method, status, time.perf_counter() - started)

    return collect


async def _read_body(receive: Receive) -> bytes | None:
    """The request's body; None when it is over MAX_BODY (not read further, as litestar's
    `request_max_body_size` stops) or the client went away: malformed, answered alike."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            message = await receive()
        except Exception:
            return None
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
