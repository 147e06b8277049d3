"""The relay's redaction: secret fields nulled through the source's own mapper steps, every other
body left byte for byte as stored (ADR 0022)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from adapters.read_side.redaction import Redactor
from application.access import Caller
from application.management import ManagementApp
from domain.account import Account, first_key_id

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def compressing_app() -> ManagementApp:
    return ManagementApp(env={"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"})


def test_a_v1_creation_goes_out_with_its_hash_nulled_and_decodes_as_stored() -> None:
    app = compressing_app()
    account_id = uuid4()
    state = {"timestamp": NOW, "originator_topic": "convtrack:Account", "actor": "admin",
             "occurred_at": NOW, "name": "Old", "api_key_hash": "ab" * 32}
    compressor = app.mapper.compressor
    assert compressor is not None
    stored = StoredEvent(account_id, 1, Account.Created.TOPIC,
                         compressor.compress(app.mapper.transcoder.encode(state)))

    body = Redactor({"management": app.mapper}).body("management", stored.topic, stored.state)

    assert b"ab" * 32 not in compressor.decompress(body)
    on_the_wire = app.mapper.to_domain_event(StoredEvent(account_id, 1, stored.topic, body))
    in_the_store = app.mapper.to_domain_event(stored)
    assert isinstance(on_the_wire, Account.Created)
    assert on_the_wire.api_key_hash is None and in_the_store.api_key_hash == "ab" * 32
    assert on_the_wire.key_id == in_the_store.key_id == first_key_id(account_id)
    assert {k: v for k, v in vars(on_the_wire).items() if k != "api_key_hash"} == \
        {k: v for k, v in vars(in_the_store).items() if k != "api_key_hash"}


def test_events_without_a_secret_are_published_as_the_stored_bytes() -> None:
    app = compressing_app()
    created = app.create_account(Caller.admin(), "New")
    app.create_key(Caller.admin(), str(created.account.id))
    redactor = Redactor({"management": app.mapper})
    notifications = app.recorder.select_notifications(1, 10)
    assert [n.topic for n in notifications] == [Account.Created.TOPIC, Account.KeyCreated.TOPIC]
    for notification in notifications:
        body = redactor.body("management", notification.topic, notification.state)
        assert body is notification.state
