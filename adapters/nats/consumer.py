"""Each projection's durable JetStream pull consumer (ADR: ordering and partitioning).

One durable consumer per projection, named after it, over every subject of the stream. A new
consumer starts at the stream's tail, and a consumer whose backlog the worker already applied
from the store is moved to the tail: the worker fills whatever lies between from the store, so
starting late never loses an event, while replaying a backlog through NATS would only ack
messages already applied (issue 3: granularity).
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from adapters.nats.subjects import Topology

_log = logging.getLogger("convtrack.worker.consumer")


def consumer_config(topology: Topology, projection: str, *, ack_wait: float,
                    max_ack_pending: int, start_seq: int | None = None) -> ConsumerConfig:
    """Explicit acks, unlimited deliveries (the worker parks), tail or a given start."""
    durable = topology.durable_for(projection)
    return ConsumerConfig(
        name=durable,
        durable_name=durable,
        description=f"convtrack projection {projection}",
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start_seq else DeliverPolicy.NEW,
        opt_start_seq=start_seq,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        # The worker counts attempts and parks (projections.base.Projection.park); the server
        # must not give up on a message on its own.
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
        filter_subject=f"{topology.root}.>",
    )


class ProjectionConsumer:
    """Creates, binds and fast-forwards one projection's durable consumer."""

    def __init__(self, js: JetStreamContext, topology: Topology, projection: str, *,
                 ack_wait: float, max_ack_pending: int) -> None:
        self.js = js
        self.topology = topology
        self.projection = projection
        self.durable = topology.durable_for(projection)
        self.ack_wait = ack_wait
        self.max_ack_pending = max_ack_pending

    async def bind(self) -> tuple[JetStreamContext.PullSubscription, bool]:
        """A pull subscription on the durable consumer, and whether it was created (at the tail)."""
        created = False
        try:
            await self.js.consumer_info(self.topology.stream, self.durable)
        except NotFoundError:
            await self.js.add_consumer(self.topology.stream, self._config())
            created = True
            _log.info("created consumer %s", self.durable,
                      extra={"stream": self.topology.stream, "consumer": self.durable})
        subscription = await self.js.pull_subscribe_bind(durable=self.durable,
                                                         stream=self.topology.stream)
        return subscription, created

    async def pending(self) -> int:
        """Messages the consumer has not delivered yet."""
        info = await self.js.consumer_info(self.topology.stream, self.durable)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def fast_forward(self) -> None:
        """Move the consumer to the stream's tail (after a catch-up from the store)."""
        state = (await self.js.stream_info(self.topology.stream)).state
        try:
            await self.js.delete_consumer(self.topology.stream, self.durable)
        except NotFoundError:
            pass
        await self.js.add_consumer(self.topology.stream, self._config(state.last_seq + 1))
        _log.info("moved consumer %s to stream sequence %d", self.durable, state.last_seq + 1,
                  extra={"consumer": self.durable, "start_seq": state.last_seq + 1})

    def _config(self, start_seq: int | None = None) -> ConsumerConfig:
        return consumer_config(self.topology, self.projection, ack_wait=self.ack_wait,
                               max_ack_pending=self.max_ack_pending, start_seq=start_seq)
