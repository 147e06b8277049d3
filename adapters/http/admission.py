"""Admission control: overload is shed at once, never queued (issue 9, ADR 0026).

Two limits, both answered before any work is done, with docs/api.md's error body and a
`Retry-After`:
- write batches (`POST /v1/touches`, `POST /v1/conversions`) in flight in this process are
  bounded; one more is a 503 `overloaded` at once, instead of waiting in the thread pool behind
  the others (200 clients once pushed a batch's p50 to 26 s and `/health` past 10 s);
- each credential gets `rate` requests a second (a token bucket with a burst of one second's
  worth); past it, 429 `rate_limited`.
`/health`, `/metrics` and the OpenAPI document are never limited: they must answer under any load.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from adapters.http.schemas import ErrorBody

WRITE_BATCHES = frozenset({"/v1/touches", "/v1/conversions"})
# /collect has its own limits, per member and per client address (ADR 0033): browsers send no
# credential, so one bucket for "anonymous" would throttle every page at once.
# /c/ and /m/ (click URLs, the sync pixel: ADR 0030) are followed by browsers, without one either.
UNLIMITED_PREFIXES = ("/health", "/metrics", "/schema", "/collect", "/c/", "/m/")
MAX_TRACKED_KEYS = 10_000  # buckets kept; the least recently seen are forgotten beyond it


@dataclass(frozen=True)
class AdmissionLimits:
    """How much this process takes at once; 0 means no limit."""

    max_write_batches: int = 1
    rate_per_key: float = 0.0  # requests a second per credential


class TokenBuckets:
    """A token bucket per credential, bounded in number (an attacker cannot grow it)."""

    def __init__(self, rate: float, max_keys: int = MAX_TRACKED_KEYS) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.max_keys = max_keys
        self.buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def take(self, key: bytes) -> float:
        """0 when a request may go now; else the seconds until one may."""
        now = time.monotonic()
        tokens, then = self.buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self.buckets[key] = (tokens, now)
        if len(self.buckets) > self.max_keys:
            self.buckets.popitem(last=False)
        return wait


def admission_control(limits: AdmissionLimits) -> Callable[[ASGIApp], ASGIApp]:
    """The middleware factory for these limits."""
    buckets = TokenBuckets(limits.rate_per_key) if limits.rate_per_key > 0 else None

    def wrap(app: ASGIApp) -> ASGIApp:
        in_flight = 0

        async def admitted(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal in_flight
            path = scope.get("path", "")
            if scope["type"] != ScopeType.HTTP or path.startswith(UNLIMITED_PREFIXES):
                await app(scope, receive, send)
                return
            if buckets is not None:
                wait = buckets.take(_credential(scope))
                if wait > 0:
                    await _refuse(send, 429, "rate_limited", "too many requests for this "
                                  "credential; send again after Retry-After seconds", wait)
                    return
            if (limits.max_write_batches <= 0 or path not in WRITE_BATCHES
                    or scope.get("method") != "POST"):
                await app(scope, receive, send)
                return
            if in_flight >= limits.max_write_batches:
                await _refuse(send, 503, "overloaded", "the service is taking as many batches "
                              "as it can; send again after Retry-After seconds", 1.0)
                return
            in_flight += 1  # one event loop: no lock needed between the check and the add
            try:
                await app(scope, receive, send)
            finally:
                in_flight -= 1

        return admitted

    return wrap


def _credential(scope: Scope) -> bytes:
    """A digest of the Authorization header (the key itself is never kept in memory here)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return hashlib.blake2b(value, digest_size=16).digest()
    return b"anonymous"


async def _refuse(send: Send, status: int, error: str, detail: str, wait: float) -> None:
    body = msgspec.json.encode(ErrorBody(error=error, detail=detail, field=None))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(max(1, math.ceil(wait))).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
