"""`/health` answered from the last check, which a background task renews every second.

Checking the store opens a connection; under overload that took ~300 ms a call (issue 9 wants
`/health` p95 < 100 ms under any load). The answer is now read from memory; the checks run on
the app's event loop once a second, each bounded (HEALTH_TIMEOUT), so an outage shows within a
few seconds and recovery as fast. Should the renewing stall, an answer older than `stale_after`
is not trusted: the request checks for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

HealthProbe = Callable[[], Awaitable[dict[str, Any]]]


class CachedHealth:
    """The latest checks of a probe, renewed every `period` seconds while the app runs."""

    def __init__(self, probe: HealthProbe, period: float = 1.0, stale_after: float = 5.0
                 ) -> None:
        self.probe = probe
        self.period = period
        self.stale_after = stale_after
        self._checks: dict[str, Any] | None = None
        self._at = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __call__(self) -> dict[str, Any]:
        """The latest checks, fresh enough; else checked now."""
        if self._checks is not None and time.monotonic() - self._at <= self.stale_after:
            return self._checks
        return await self._check()

    async def start(self) -> None:
        """Begin renewing (litestar on_startup)."""
        self._task = asyncio.get_running_loop().create_task(self._renew())

    async def stop(self) -> None:
        """Stop renewing (litestar on_shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _check(self) -> dict[str, Any]:
        checks = await self.probe()
        self._checks, self._at = checks, time.monotonic()
        return checks

    async def _renew(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # a failed check is in the checks it returns
                await self._check()
            await asyncio.sleep(self.period)
