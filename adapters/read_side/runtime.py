"""Running the relay, the projection workers and the fires consumer (ADR 0032): inside
`convtrack serve`, or as `convtrack worker`.

Both run on one asyncio loop in a background thread: the HTTP server keeps the main thread, and
every blocking store call goes to the loop's thread pool. NATS is reached with endless
reconnects; while it is away the relay backs off and the write side is untouched (issue 3).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import nats
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from nats.aio.client import Client as NatsClient

from adapters.nats.stream import ensure_stream
from adapters.nats.subjects import Topology
from adapters.postgres.listen import Wakeup, listen
from adapters.postgres.read_side_state import ReadSideState
from adapters.postgres.relay_lease import RelayLease
from adapters.postgres.statistics import StatisticsKeeper
from adapters.read_side.fires_consumer import FiresConsumer, FiresOptions, Record
from adapters.read_side.relay import Relay
from adapters.read_side.store_reader import StoreReader
from adapters.read_side.worker import ProjectionWorker, WorkerOptions
from projections.base import Projection

_log = logging.getLogger("convtrack.read_side")

T = TypeVar("T")


@dataclass(frozen=True)
class ReadSideParts:
    """What the relay and workers run on; the composition root builds it (adapters/bootstrap.py)."""

    sources: Mapping[str, Application[Any]]  # by source name, "management" first
    state: ReadSideState
    topology: Topology
    database_url: str | None  # None: the in-memory store (no LISTEN, lease or statistics)
    database_schema: str
    record_fires: Record | None = None  # IngestionApp.record_fires, for the fires consumer


@dataclass
class ReadSideOptions:
    """What runs and how; the defaults are `convtrack serve`'s."""

    relay: bool = True
    workers: bool = True
    topology: Topology | None = None  # default: the parts' topology
    worker: WorkerOptions = field(default_factory=WorkerOptions)
    relay_page_size: int = 1000
    poll_interval: float | None = None  # default: 1 s with LISTEN, 0.1 s without
    relay_lease_check: float = 5.0  # a standby relay's retry period (ADR 0017)
    statistics_interval: float | None = 5.0  # how often tables are checked for ANALYZE; None: never
    fires: bool = True  # run the fires consumer beside the workers (ADR 0032)
    fires_options: FiresOptions = field(default_factory=FiresOptions)


def select_projections(projections: Sequence[Projection], names: Sequence[str] | None
                       ) -> list[Projection]:
    """The projections with these names (all when none given); an unknown name is an error."""
    if not names:
        return list(projections)
    known = {p.name: p for p in projections}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown projection {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]


class ReadSideRuntime:
    """The relay and workers on their own event loop thread; `start()` returns at once."""

    def __init__(self, parts: ReadSideParts, projections: Sequence[Projection], nats_url: str,
                 options: ReadSideOptions | None = None) -> None:
        self.parts = parts
        self.projections = list(projections)
        self.nats_url = nats_url
        self.options = options or ReadSideOptions()
        self.topology = self.options.topology or parts.topology
        self.relay: Relay | None = None
        self.workers: list[ProjectionWorker] = []
        self.fires: FiresConsumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._nats: NatsClient | None = None
        self._nats_error: str | None = None  # the last connection error, for /health

    def start(self) -> ReadSideRuntime:
        """Start the background thread (the connection to NATS is made, and retried, there)."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._thread_main, name="convtrack-read-side",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the relay and workers, close the NATS connection, join the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        if self._loop is not None and self._main is not None:
            self._loop.call_soon_threadsafe(self._main.cancel)
        thread.join(timeout)
        if thread.is_alive():
            _log.warning("read side did not stop within %.0f s", timeout)

    def join(self) -> None:
        """Block until the background thread ends (it ends only when stopped or on an error)."""
        while self.running:
            time.sleep(0.5)

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def nats_status(self) -> str:
        """"ok" while connected to NATS, else "unreachable: why" (`GET /health` shows it)."""
        nc = self._nats
        if nc is not None and nc.is_connected:
            return "ok"
        why = self._nats_error or ("reconnecting" if nc is not None else "connecting")
        return f"unreachable: {why}"

    def __enter__(self) -> ReadSideRuntime:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        # The default pool (CPU count + 4) is too small for a relay, a LISTEN task and several
        # workers each with a store call and a prefetch in flight.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=32,
                                                     thread_name_prefix="convtrack-read-side"))
        self._loop = loop
        try:
            self._main = loop.create_task(self._run())
            self._ready.set()
            loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        except Exception:
            _log.exception("read side stopped on an error")
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _run(self) -> None:
        # Statistics are the database's business: kept even while NATS is unreachable.
        keeper = self._keep_statistics()
        try:
            await self._run_with_nats()
        finally:
            if keeper is not None:
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)

    def _keep_statistics(self) -> asyncio.Task[None] | None:
        dsn = self.parts.database_url
        if not dsn or self.options.statistics_interval is None:
            return None
        keeper = StatisticsKeeper(dsn, self.parts.database_schema)
        return asyncio.create_task(keeper.run(self.options.statistics_interval))

    async def _run_with_nats(self) -> None:
        def remember(error: Exception) -> None:
            self._nats_error = str(error) or type(error).__name__

        nc = await connect(self.nats_url, lambda: self._stopping, remember)
        self._nats = nc
        try:
            js = nc.jetstream(publish_async_max_pending=self.options.relay_page_size * 2)
            if self.options.relay or (self.options.workers and self.projections):
                # The fires consumer alone needs no events stream (it waits for its own).
                await retry_forever(lambda: ensure_stream(js, self.topology), "ensure stream")
            tasks = [asyncio.create_task(c) for c in self._components(js)]
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._nats = None
            await nc.close()

    def _components(self, js: nats.js.JetStreamContext) -> list[Coroutine[Any, Any, None]]:
        sources, state = self.parts.sources, self.parts.state
        coroutines: list[Coroutine[Any, Any, None]] = []
        if self.options.relay:
            channels = [app.recorder.channel_name for app in sources.values()
                        if isinstance(app.recorder, PostgresApplicationRecorder)]
            dsn = self.parts.database_url
            poll = self.options.poll_interval or (1.0 if channels and dsn else 0.1)
            wakeup = Wakeup(poll)
            lease = RelayLease(dsn, self.parts.database_schema) if dsn else None
            self.relay = Relay(sources, state, js, self.topology, wakeup,
                               page_size=self.options.relay_page_size, lease=lease,
                               lease_check=self.options.relay_lease_check)
            coroutines.append(self.relay.run())
            if channels and dsn:
                coroutines.append(listen(dsn, channels, wakeup))
        if self.options.workers:
            reader = StoreReader(sources)
            self.workers = [ProjectionWorker(p, reader, js, self.topology, state,
                                             self.options.worker) for p in self.projections]
            coroutines.extend(w.run() for w in self.workers)
            if self.options.fires and self.parts.record_fires is not None:
                self.fires = FiresConsumer(js, self.topology, self.parts.record_fires,
                                           self.options.fires_options)
                coroutines.append(self.fires.run())
        return coroutines


async def connect(url: str, stopping: Callable[[], bool] = lambda: False,
                  on_error: Callable[[Exception], None] = lambda _: None) -> NatsClient:
    """A NATS connection that reconnects forever; the first connect is retried too."""

    async def log_error(error: Exception) -> None:
        on_error(error)
        if not stopping():
            _log.warning("nats: %s", error, extra={"error": repr(error)})

    async def log_disconnect() -> None:
        if not stopping():
            _log.warning("nats disconnected; the relay backs off until it is back")

    async def log_reconnect() -> None:
        _log.info("nats reconnected")

    async def attempt() -> NatsClient:
        try:
            return await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                      connect_timeout=2, error_cb=log_error,
                                      disconnected_cb=log_disconnect,
                                      reconnected_cb=log_reconnect)
        except Exception as error:
            on_error(error)
            raise

    return await retry_forever(attempt, f"connect to {url}")


async def retry_forever(call: Callable[[], Awaitable[T]], what: str, max_backoff: float = 5.0
                        ) -> T:
    """Await `call()` until it succeeds, logging each failure; bounded exponential backoff."""
    backoff = 0.0
    while True:
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            backoff = min(max_backoff, max(0.2, backoff * 2))
            _log.warning("%s failed, retrying in %.1f s: %s", what, backoff, error,
                         extra={"error": repr(error)})
            await asyncio.sleep(backoff)


def run_worker(parts: ReadSideParts, projections: Sequence[Projection], nats_url: str,
               names: Sequence[str] | None = None, *, relay: bool = False,
               metrics_port: int | None = None, options: ReadSideOptions | None = None,
               fires: bool = True) -> None:
    """Block running the named projections' workers (and the relay and the fires consumer if
    asked) until interrupted."""
    options = options or ReadSideOptions(relay=relay, workers=True, fires=fires)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    runtime = ReadSideRuntime(parts, select_projections(projections, names), nats_url, options)
    runtime.start()
    try:
        # SIGTERM arrives here as SystemExit (supervisor.exit_on_termination_signals), SIGINT as
        # KeyboardInterrupt; both leave through `finally`, which stops the workers cleanly.
        runtime.join()
    finally:
        runtime.stop()
