"""The fires stream: accepted browser fires between the collector and the store (ADR 0032).

Unlike the events stream, this one holds the only copy of a fire until the fires consumer has
recorded it, so it is a work queue: a message goes once acknowledged, after its store commit.
That also keeps what names a member (the `ct_mid` member id) off the broker once recorded,
where erasure could not reach it (ADR 0027). Its limits bound what an outage of the database
can pile up: fires older than a week, or beyond 1 GiB, are refused, not kept.
"""

from __future__ import annotations

import logging

import msgspec
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from adapters.nats.envelope import DEPLOYMENT, MSG_ID
from adapters.nats.subjects import Topology
from application.fires import Fire

_log = logging.getLogger("convtrack.nats.fires")

MAX_AGE_SECONDS = 7 * 24 * 3600.0  # a database outage of up to a week loses no fire
MAX_BYTES = 1024**3  # about 2.5 million fires of ~400 bytes
# JetStream's default: a browser retries within seconds, if at all; a later copy is still one
# conversion, by the ingestion ledger's event_id key, which never expires (ADR 0004).
DUPLICATE_WINDOW = 120.0
DURABLE = "fires_recorder"

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Fire)


def fires_stream_config(topology: Topology) -> StreamConfig:
    """A file-backed work queue on the deployment's fires subject, bounded by age and size."""
    return StreamConfig(
        name=topology.fires_stream,
        description="convtrack browser fires, accepted by the collector, waiting to be recorded",
        subjects=[topology.fires_subject],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        # Full: refuse new fires (the collector counts them `unavailable`) rather than drop the
        # oldest unrecorded ones without a trace.
        discard=DiscardPolicy.NEW,
        max_age=MAX_AGE_SECONDS,
        max_bytes=MAX_BYTES,
        duplicate_window=DUPLICATE_WINDOW,
    )


async def ensure_fires_stream(js: JetStreamContext, topology: Topology) -> None:
    """Create the fires stream, or bring its limits up to date; idempotent."""
    wanted = fires_stream_config(topology)
    try:
        info = await js.stream_info(topology.fires_stream)
    except NotFoundError:
        await js.add_stream(wanted)
        _log.info("created stream %s", topology.fires_stream,
                  extra={"stream": topology.fires_stream})
        return
    have = info.config
    if (have.max_age != wanted.max_age or have.max_bytes != wanted.max_bytes
            or have.duplicate_window != wanted.duplicate_window):
        await js.update_stream(wanted)


def fire_message(topology: Topology, fire: Fire) -> tuple[str, bytes, dict[str, str]]:
    """Subject, body (the fire as JSON) and headers of one fire."""
    headers = {MSG_ID: topology.fire_msg_id(fire.tag_id, fire.event_id),
               DEPLOYMENT: topology.deployment}
    return topology.fires_subject, _encoder.encode(fire), headers


def fire_of(body: bytes) -> Fire:
    """The fire a message carries; msgspec.ValidationError or DecodeError when it is none."""
    return _decoder.decode(body)


def fires_consumer_config(*, ack_wait: float, max_ack_pending: int) -> ConsumerConfig:
    """The fires consumer: every fire from the first, explicit acks, never given up by the server
    (the consumer dead-letters what cannot be recorded)."""
    return ConsumerConfig(
        name=DURABLE,
        durable_name=DURABLE,
        description="convtrack fires consumer: records browser fires into member timelines",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
    )
