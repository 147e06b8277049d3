"""Driving a projection from the event store itself: catch-up, rebuilds and synchronous tests.

Workers use this when they are far behind or find a gap in what NATS delivered
(docs/architecture.md: the event store is the truth); tests use it to bring read models up to
date before asserting. It reads each source application's notification log from the
projection's tracked position in pages, decodes them (member-timeline facts with
adapters/read_side/fact_decoding.py), and hands each page to `process_batch` (which skips
anything already applied, so running it twice, or beside a worker, changes nothing), or, for
the attribution projection, all of them to `apply_pipelined`, which writes one page while it
computes the next (ADR 0014).
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

from adapters.read_side.fact_decoding import FactDecoder
from adapters.read_side.pipelined_catch_up import PipelineConflict, apply_pipelined
from projections.attribution.projection import AttributionProjection
from projections.base import Envelope, Projection

log = logging.getLogger("convtrack.projections")

DEFAULT_BATCH_SIZE = 1000


class NotificationLog(Protocol):
    """The part of an eventsourcing application recorder read here."""

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True
                             ) -> Sequence[Any]: ...

    def max_notification_id(self) -> int | None: ...


class EventMapper(Protocol):
    """Decodes stored events (the library's Mapper)."""

    def to_domain_event(self, stored_event: Any) -> Any: ...


class EventSource(Protocol):
    """An eventsourcing Application seen as a log of events: ManagementApp, IngestionApp."""

    @property
    def recorder(self) -> Any: ...  # a NotificationLog; Any because the library types it wider

    @property
    def mapper(self) -> Any: ...  # an EventMapper


def read_envelopes(name: str, source: EventSource, after: int, limit: int,
                   stop: int | None = None, *, fast: bool = True) -> list[Envelope]:
    """Up to `limit` events of the source named `name` after `after` (and not after `stop`).

    With `fast` (the default), member-timeline facts come as adapters.read_side.fact_decoding's
    light records, decoded ~10 times faster than through the library's mapper; `fast=False`
    gives every event as the library's domain event.
    """
    recorder: NotificationLog = source.recorder
    notifications = recorder.select_notifications(after + 1, limit, stop=stop)
    if not fast:
        mapper: EventMapper = source.mapper
        return [Envelope(name, n.id, mapper.to_domain_event(n)) for n in notifications]
    decoder = FactDecoder(source.mapper)
    decoder.prefetch(notifications)
    decode = decoder.decode
    return [Envelope(name, n.id, decode(n.topic, n.originator_id, n.originator_version, n.state))
            for n in notifications]


def catch_up(
    projection: Projection,
    sources: Mapping[str, EventSource],
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
    *,
    fast: bool = True,
    pipelined: bool = True,
    until: Mapping[str, int] | None = None,
) -> int:
    """Apply every event recorded so far that the projection has not applied; returns how many.

    `sources` maps the source names of projections/base.py (SOURCES) to the applications; they
    are read one after the other, in the order given: give "management" first, so catalogue
    events (actions, campaigns) are known before the facts that use them.
    Each source is read up to its position when catch-up reached it, so a busy store cannot keep
    the call going forever. `fast` is read_envelopes' choice of decoding. With `pipelined`, the
    attribution projection writes each page while it computes the next; should another writer
    move its positions meanwhile, the rest is applied page by page from the positions in the
    store. `until` bounds the positions read per source (a worker catching up to the heads it
    saw); by default each source's head when reached.
    """
    # Only the attribution projection has a pipelined path, and only on a store that allows a
    # second connection to write while the first reads (ADR 0014).
    pipeline = (pipelined and isinstance(projection, AttributionProjection)
                and projection.view.pipelined)
    # The next page is read and decoded in a second thread while this one is applied: the
    # projection spends much of a batch waiting on PostgreSQL, which releases the GIL.
    with _fewer_collections(), \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="catch-up-reader") as reader:
        pages = _pages(projection, sources, batch_size, fast, reader, on_batch, until)
        if not pipeline:
            applied = 0
            for page in pages:
                projection.process_batch(page)
                applied += len(page)
        else:
            try:
                assert isinstance(projection, AttributionProjection)
                applied = apply_pipelined(projection, pages)
            except PipelineConflict as conflict:
                log.info("catch-up met another writer, going on batch by batch",
                         extra={"projection": projection.name, "events": conflict.applied})
                applied = conflict.applied + catch_up(projection, sources, batch_size, on_batch,
                                                      fast=fast, pipelined=False, until=until)
    log.debug("caught up", extra={"projection": projection.name, "events": applied})
    return applied


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved = gc.get_threshold()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while catch-ups run (issue 3: catch-up).

    A catch-up allocates ~10 tracked objects an event that live for a batch or longer, so with
    the default threshold (700) the collector ran ~300 times per 50,000 events for ~6 µs an
    event, finding next to nothing: the records are freed by reference counting. Raising the
    first threshold for the duration (and restoring it after the last overlapping catch-up)
    cuts that to ~2 µs; objects in reference cycles are freed a little later meanwhile.
    """
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_gc_saved[0], 20_000), *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


def _pages(projection: Projection, sources: Mapping[str, EventSource], batch_size: int,
           fast: bool, reader: ThreadPoolExecutor, on_batch: Callable[[int], None] | None,
           until: Mapping[str, int] | None) -> Iterator[list[Envelope]]:
    """The unapplied pages of every source in order, each read while the last is applied."""
    for name, source in sources.items():
        recorder: NotificationLog = source.recorder
        stop = (recorder.max_notification_id() or 0) if until is None else until.get(name, 0)
        position = projection.tracked_positions().get(name, 0)
        if position >= stop:
            continue
        pending = reader.submit(read_envelopes, name, source, position, batch_size, stop,
                                fast=fast)
        while True:
            batch = pending.result()
            if not batch:
                break
            position = batch[-1].position
            if position < stop:
                pending = reader.submit(read_envelopes, name, source, position, batch_size,
                                        stop, fast=fast)
            yield batch
            if on_batch is not None:
                on_batch(len(batch))
            if position >= stop:
                break
