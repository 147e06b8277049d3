"""The JetStream stream the relay publishes to, created or brought up to date at start."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from adapters.nats.subjects import Topology

_log = logging.getLogger("convtrack.nats.stream")

# The stream is transport, not the record (docs/architecture.md: the event store is the truth):
# it keeps the recent tail for live workers. A worker further behind than this catches up from
# the store, so the limits bound disk use without risking an event.
MAX_AGE_SECONDS = 7 * 24 * 3600.0
MAX_BYTES = 4 * 1024**3


def stream_config(topology: Topology) -> StreamConfig:
    """File storage, every subject under the root, limits retention, a duplicate window."""
    return StreamConfig(
        name=topology.stream,
        description="convtrack domain events, relayed from the event store (ADR: relay)",
        subjects=topology.subjects,
        # Limits, not interest or work-queue retention: every projection has its own durable
        # consumer and a new one must be able to start from what the stream still has.
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=MAX_AGE_SECONDS,
        max_bytes=MAX_BYTES,
        duplicate_window=topology.duplicate_window,
    )


async def ensure_stream(js: JetStreamContext, topology: Topology) -> None:
    """Create the stream, or update it if its settings drifted; idempotent."""
    wanted = stream_config(topology)
    try:
        info = await js.stream_info(topology.stream)
    except NotFoundError:
        await js.add_stream(wanted)
        _log.info("created stream %s", topology.stream,
                  extra={"stream": topology.stream, "subjects": topology.subjects})
        return
    have = info.config
    if (have.subjects != wanted.subjects or have.duplicate_window != wanted.duplicate_window
            or have.max_age != wanted.max_age or have.max_bytes != wanted.max_bytes):
        await js.update_stream(wanted)
        _log.info("updated stream %s", topology.stream, extra={"stream": topology.stream})
