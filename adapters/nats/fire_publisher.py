"""Publishing accepted fires from the HTTP process, answering once JetStream has them (ADR 0032).

One connection per process, on the HTTP server's event loop. Each fire is its own request to
JetStream, awaited by its own `/collect` call: requests share the connection without waiting
for each other's acknowledgements (nats-py muxes the replies), so concurrent fires pipeline.
A fire waits at most `timeout` seconds; while NATS is away it does not wait at all. Either way
the page gets the same answer, and the fire is counted `unavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NoStreamResponseError

from adapters.nats.fires import ensure_fires_stream, fire_message
from adapters.nats.subjects import Topology
from application.fires import Fire

_log = logging.getLogger("convtrack.collector")

DEFAULT_TIMEOUT = 1.0  # seconds a fire waits for JetStream (CONVTRACK_COLLECT_PUBLISH_TIMEOUT)
_WARN_EVERY = 10.0  # seconds between warnings about lost fires


class FirePublisher:
    """The collector's way into the deployment's fires stream (a `FireSink`)."""

    def __init__(self, url: str, topology: Topology, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.topology = topology
        self.timeout = timeout
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._task: asyncio.Task[None] | None = None
        self._warned_at = 0.0

    async def start(self) -> None:
        """Connect in the background (retried until it works): start-up never waits on NATS."""
        self._task = asyncio.create_task(self._connect())

    async def stop(self) -> None:
        """Close the connection, waiting at most a few seconds for acknowledgements."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)  # bounded, like the close below
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 5)

    @property
    def connected(self) -> bool:
        """Whether fires can be published now."""
        return self._js is not None and self._nc is not None and self._nc.is_connected

    async def publish(self, fire: Fire) -> bool:
        """True once JetStream stored the fire (or had it already: a retry); else False, fast."""
        js = self._js
        if js is None or not self.connected:
            self._warn("NATS is unreachable")
            return False
        subject, body, headers = fire_message(self.topology, fire)
        try:
            await js.publish(subject, body, timeout=self.timeout, headers=headers)
            return True
        except NoStreamResponseError:
            # The stream was deleted under us (an operator, a test): make it again for the next.
            self._warn("the fires stream is missing; creating it")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ensure_fires_stream(js, self.topology), self.timeout)
        except (NatsError, asyncio.TimeoutError, TimeoutError) as error:
            self._warn(f"JetStream did not confirm: {error!r}")
        return False

    async def _connect(self) -> None:
        backoff = 0.2
        while True:
            nc: NatsClient | None = None
            try:
                nc = await nats.connect(self.url, max_reconnect_attempts=-1,
                                        reconnect_time_wait=0.5, connect_timeout=2,
                                        error_cb=self._on_error)
                js = nc.jetstream()
                await ensure_fires_stream(js, self.topology)
                self._nc, self._js = nc, js
                return
            except BaseException as error:
                if nc is not None:
                    with contextlib.suppress(Exception):
                        await nc.close()
                if not isinstance(error, Exception):
                    raise  # cancelled
                _log.warning("collector: cannot reach NATS at %s, retrying in %.1f s: %s",
                             self.url, backoff, error, extra={"error": repr(error)})
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)

    async def _on_error(self, error: Exception) -> None:
        self._warn(f"nats: {error!r}")

    def _warn(self, what: str) -> None:
        # One line every few seconds, not one per lost fire: the counter has the numbers.
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            _log.warning("collector: fires are being lost: %s", what,
                         extra={"stream": self.topology.fires_stream})
