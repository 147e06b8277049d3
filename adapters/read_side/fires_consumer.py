"""The fires consumer: browser fires from JetStream into member timelines (ADR 0032).

It pulls batches of up to 1,000 fires from the deployment's fires stream, records them through
`IngestionApp.record_fires` (one transaction per batch, idempotent per event_id) and acks only
after that commit. A redelivered fire is answered `duplicate` by the ingestion ledger and
recorded once. A fire the checks reject (its action disabled since, a click id that names no
member) is a dead letter in the same transaction, and acked. While the database is away,
nothing is acked: the fires wait in the stream. A fire that fails for any other reason is
retried alone, then dead-lettered, so none blocks the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from adapters.metrics import FIRES_FAILURES, FIRES_UNRECORDABLE, PROJECTION_FOREIGN
from adapters.metrics import count_fact_results
from adapters.nats.envelope import deployment_of
from adapters.nats.fires import DURABLE, fire_of, fires_consumer_config
from adapters.nats.subjects import Topology
from adapters.read_side.apply import TRANSIENT
from application.facts import ConversionIn, ItemResult, Undecodable
from application.fires import to_conversions

_log = logging.getLogger("convtrack.fires")

Record = Callable[[Sequence[ConversionIn | Undecodable]], list[ItemResult]]


@dataclass(frozen=True)
class FiresOptions:
    """Tuning of the fires consumer; the defaults are the production ones."""

    batch_size: int = 1000
    fetch_timeout: float = 1.0
    ack_wait: float = 60.0  # longer than a 1,000-fire transaction under load
    stream_check: float = 2.0  # how often to look for the stream before a collector made it
    max_attempts: int = 5  # a fire failing alone this often is dead-lettered
    max_backoff: float = 5.0


class FiresConsumer:
    """Records the deployment's fires, batch by batch, acking after each commit."""

    def __init__(self, js: JetStreamContext, topology: Topology, record: Record,
                 options: FiresOptions | None = None) -> None:
        self.js = js
        self.topology = topology
        self.record = record
        self.options = options or FiresOptions()
        self.recorded = 0  # fires acked after a commit, by this consumer

    async def run(self) -> None:
        """Work until cancelled; a failure is logged and retried after a bounded backoff."""
        backoff = 0.0
        while True:
            try:
                await self.run_once()
                backoff = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                backoff = min(self.options.max_backoff, max(0.2, backoff * 2))
                level = logging.WARNING if isinstance(error, TRANSIENT) else logging.ERROR
                _log.log(level, "fires consumer failed, restarting in %.1f s: %s", backoff,
                         error, exc_info=level == logging.ERROR, extra={"error": repr(error)})
                await asyncio.sleep(backoff)

    async def run_once(self) -> None:
        """Wait for the stream (the first collector creates it), bind, then follow it."""
        subscription = await self.bind()
        try:
            while True:
                messages = await self.next_batch(subscription)
                if messages:
                    await self.handle(messages)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def bind(self) -> JetStreamContext.PullSubscription:
        """The durable pull subscription, creating the consumer at the stream's first fire."""
        stream = self.topology.fires_stream
        while True:
            try:
                await self.js.stream_info(stream)
                break
            except NotFoundError:
                await asyncio.sleep(self.options.stream_check)
        try:
            await self.js.consumer_info(stream, DURABLE)
        except NotFoundError:
            await self.js.add_consumer(stream, fires_consumer_config(
                ack_wait=self.options.ack_wait, max_ack_pending=self.options.batch_size * 4))
        return await self.js.pull_subscribe_bind(durable=DURABLE, stream=stream)

    async def next_batch(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        """Wait for one fire, then take whatever else is there at once, up to a batch."""
        # As in the projection worker: a waiting fetch(n) would wait for n on a quiet stream.
        try:
            messages = await subscription.fetch(1, timeout=self.options.fetch_timeout)
        except TimeoutError:
            return []
        with contextlib.suppress(TimeoutError):
            messages += await subscription.fetch(self.options.batch_size - 1, timeout=0.01)
        return messages

    async def handle(self, messages: Sequence[Msg]) -> None:
        """Record one batch in one transaction, then ack it; on failure, fire by fire."""
        ours = await self._drop_foreign(messages)
        items = [self._items(message) for message in ours]
        try:
            results = await asyncio.to_thread(self.record, [i for each in items for i in each])
        except TRANSIENT:
            FIRES_FAILURES.inc()
            # Nothing recorded: the fires wait in the stream, offered again in a second.
            await self._nak(ours, delay=1.0)
            raise
        except Exception as error:
            FIRES_FAILURES.inc()
            _log.warning("fires consumer: a batch of %d failed, recording fire by fire: %s",
                         len(ours), error, extra={"error": repr(error)})
            for message, each in zip(ours, items):
                await self._record_alone(message, each)
            return
        count_fact_results("fire", results)
        await self._ack(ours)
        self.recorded += len(ours)

    async def _record_alone(self, message: Msg, items: list[ConversionIn | Undecodable]
                            ) -> None:
        try:
            count_fact_results("fire", await asyncio.to_thread(self.record, items))
        except TRANSIENT:
            raise
        except Exception as error:
            attempts = message.metadata.num_delivered or 1
            if attempts < self.options.max_attempts:
                await message.nak(delay=min(self.options.max_backoff, 0.1 * 2 ** attempts))
                return
            FIRES_UNRECORDABLE.inc()
            _log.error("fires consumer: fire at stream sequence %s failed %d times, "
                       "dead-lettered: %s", message.metadata.sequence.stream, attempts, error,
                       extra={"error": repr(error)})
            letter = Undecodable(None, None, "unrecordable", f"{error!r}"[:1000],
                                 message.data.decode("utf-8", "replace"))
            try:
                await asyncio.to_thread(self.record, [letter])
            except Exception:
                _log.exception("fires consumer: could not dead-letter the fire; dropped")
        await self._ack([message])
        self.recorded += 1

    @staticmethod
    def _items(message: Msg) -> list[ConversionIn | Undecodable]:
        """The conversions a fire records, or a dead letter when the message is no fire."""
        try:
            return list(to_conversions(fire_of(message.data)))
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            return [Undecodable(None, None, "undecodable_fire", str(error),
                                message.data.decode("utf-8", "replace"))]

    async def _drop_foreign(self, messages: Sequence[Msg]) -> list[Msg]:
        """Ack and count another deployment's messages (ADR 0023); ours, in order."""
        ours = [m for m in messages if deployment_of(m.headers) == self.topology.deployment]
        if len(ours) < len(messages):
            PROJECTION_FOREIGN.labels(DURABLE).inc(len(messages) - len(ours))
            _log.warning("fires consumer: ignored %d message(s) of another deployment",
                         len(messages) - len(ours))
            await self._ack([m for m in messages if m not in ours])
        return ours

    async def _ack(self, messages: Sequence[Msg]) -> None:
        """Acknowledge after the commit; a lost ack means a redelivery, answered `duplicate`."""
        try:
            for message in messages:
                await message.ack()
        except Exception as error:
            _log.warning("fires consumer: ack failed, the fires will be redelivered and found "
                         "recorded: %s", error, extra={"error": repr(error)})

    @staticmethod
    async def _nak(messages: Sequence[Msg], delay: float) -> None:
        with contextlib.suppress(Exception):
            for message in messages:
                await message.nak(delay=delay)
