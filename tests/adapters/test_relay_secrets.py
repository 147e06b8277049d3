"""Nothing secret on the wire: the relay publishes no API key, secret or key hash to a real
JetStream stream, and the audit trail computed from NATS is the one computed from the store
(ADR 0022)."""

from __future__ import annotations

import json
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from adapters.bootstrap import Container
from adapters.nats.envelope import POSITION
from adapters.nats.stream import ensure_stream
from adapters.nats.subjects import Topology
from adapters.read_side.decoding import decoders_of, from_message
from adapters.read_side.store_reader import StoreReader
from application.access import Caller
from domain.account import first_key_id, hash_api_key
from projections.audit import AuditProjection
from projections.base import Envelope
from projections.memory_views import InMemoryAuditView
from tests.adapters.test_relay import relay_for, relay_until_caught_up
from tests.application.legacy_accounts import record_v1_account

ADMIN = Caller.admin()


def every_key_change(container: Container) -> list[str]:
    """An account from before ADR 0022 and one from after, each with more keys, one revoked,
    one disabled; every API key involved."""
    app = container.management
    old_id, old_key = record_v1_account(app, "Old")
    old = Caller.account(str(old_id))
    old_more = app.create_key(old, str(old_id))
    app.revoke_key(old, str(old_id), first_key_id(old_id))
    new = app.create_account(ADMIN, "New")
    new_id = str(new.account.id)
    new_more = app.create_key(ADMIN, new_id)
    app.disable_account(ADMIN, new_id)
    app.enable_account(ADMIN, new_id)
    return [old_key, old_more.api_key, new.api_key, new_more.api_key]


def secrets_of(api_keys: list[str]) -> list[str]:
    """Each key, its secret part and its hash: none may be published."""
    return [s for k in api_keys for s in (k, k.removeprefix("ct_").partition("_")[2],
                                          hash_api_key(k))]


async def published(js: JetStreamContext, topology: Topology) -> list[Any]:
    """Every message of the stream, in order."""
    subscription = await js.pull_subscribe(f"{topology.root}.>", stream=topology.stream,
                                           config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    total = (await js.stream_info(topology.stream)).state.messages
    found: list[Any] = []
    while len(found) < total:
        for message in await subscription.fetch(500, timeout=2):
            found.append(message)
            await message.ack()
    await subscription.unsubscribe()
    return found


def audit_of(envelopes: list[Envelope]) -> list[Any]:
    """The audit trail a projection computes from these envelopes."""
    view = InMemoryAuditView()
    AuditProjection(view).process_batch(envelopes)
    return view.records


async def test_the_relay_publishes_no_key_secret_or_hash_and_the_audit_is_the_stores(
    pg_container: Container, jetstream: JetStreamContext, read_side_topology: Topology
) -> None:
    api_keys = every_key_change(pg_container)
    await ensure_stream(jetstream, read_side_topology)
    await relay_until_caught_up(relay_for(pg_container, jetstream, read_side_topology),
                                pg_container)

    messages = await published(jetstream, read_side_topology)
    management = [m for m in messages if m.headers["Convtrack-Application"] == "management"]
    assert len(management) == 7  # 2 creations, 2 keys created, 1 revoked, disable, enable
    for message in messages:
        wire = message.data + json.dumps(message.headers).encode() + message.subject.encode()
        for secret in secrets_of(api_keys):
            assert secret.encode() not in wire, (message.subject, secret)

    # The v1 creation event still holds its hash in the store: only its copy on the wire is
    # nulled; every other body is the stored bytes.
    stored = {n.id: n.state for n in pg_container.management.recorder.select_notifications(1, 100)}
    legacy = management[0]
    assert hash_api_key(api_keys[0]).encode() in stored[1]
    assert json.loads(legacy.data)["api_key_hash"] is None
    assert all(m.data == stored[int(m.headers[POSITION])] for m in management[1:])

    # What the audit projection computes is the same from NATS and from the store.
    decoders = decoders_of({name: app.mapper for name, app in pg_container.sources.items()})
    from_nats = [from_message(decoders, m.headers, m.data) for m in management]
    from_store = StoreReader(pg_container.sources).read("management", 1, 100)
    assert audit_of(from_nats) == audit_of(from_store)
    assert [r.data.get("key_id") for r in audit_of(from_nats)][:3] == [
        first_key_id(from_store[0].event.originator_id),
        from_store[1].event.key_id, first_key_id(from_store[0].event.originator_id)]
