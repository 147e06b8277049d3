"""Events on the wire and back: a message decodes to what a store read gives (ADR 0007, 0014)."""

from __future__ import annotations

import pytest

from adapters.bootstrap import Container
from adapters.nats.envelope import ORIGINATOR_VERSION, UndecodableMessage, to_message
from adapters.read_side import fact_decoding
from adapters.read_side.catch_up import read_envelopes
from adapters.read_side.decoding import Undecoded, decoders_of, from_message
from domain.campaign import Campaign
from tests.adapters.read_side_support import record_touches


def wire(container: Container, application: str) -> list[tuple[str, bytes, dict[str, str]]]:
    recorder = container.sources[application].recorder
    return [to_message(container.topology, application, n)
            for n in recorder.select_notifications(1, 1000)]


def test_a_fact_from_nats_is_the_same_light_record_a_store_catch_up_reads(
        pg_container: Container) -> None:
    record_touches(pg_container, 5)
    decoders = decoders_of({n: app.mapper for n, app in pg_container.sources.items()})
    from_nats = [from_message(decoders, headers, body)
                 for _, body, headers in wire(pg_container, "ingestion")]
    from_store = read_envelopes("ingestion", pg_container.sources["ingestion"], 0, 1000)

    assert {type(e.event) for e in from_nats} == {
        fact_decoding.TimelineCreated, fact_decoding.ImpressionRecorded}
    assert [(e.application, e.position, e.topic) for e in from_nats] == \
        [(e.application, e.position, e.topic) for e in from_store]
    for nats_event, store_event in zip(from_nats, from_store, strict=True):
        # The store read keeps the originator id as the recorder gives it; the message as text.
        assert str(nats_event.event.originator_id) == str(store_event.event.originator_id)
        assert nats_event.event.occurred_at == store_event.event.occurred_at
        assert nats_event.event.timestamp == store_event.event.timestamp


def test_a_catalogue_event_from_nats_is_the_domain_event(pg_container: Container) -> None:
    record_touches(pg_container, 1)  # creates the campaign the touches use
    decoders = decoders_of({n: app.mapper for n, app in pg_container.sources.items()})
    events = [from_message(decoders, headers, body).event
              for _, body, headers in wire(pg_container, "management")]
    assert any(isinstance(event, Campaign.Created) for event in events)


def test_a_corrupted_body_becomes_undecoded_so_the_worker_parks_it(
        pg_container: Container) -> None:
    record_touches(pg_container, 1)
    decoders = decoders_of({n: app.mapper for n, app in pg_container.sources.items()})
    _, _, headers = wire(pg_container, "ingestion")[-1]
    envelope = from_message(decoders, headers, b"{not json")
    assert isinstance(envelope.event, Undecoded)
    assert envelope.event.topic == headers["Convtrack-Topic"]
    bad_version = headers | {ORIGINATOR_VERSION: "two"}
    assert isinstance(from_message(decoders, bad_version, b"{}").event, Undecoded)


def test_a_message_without_the_relay_headers_is_not_ours(pg_container: Container) -> None:
    decoders = decoders_of({n: app.mapper for n, app in pg_container.sources.items()})
    with pytest.raises(UndecodableMessage):
        from_message(decoders, {"Nats-Msg-Id": "x"}, b"{}")
    with pytest.raises(UndecodableMessage):
        from_message(decoders, {"Convtrack-Application": "elsewhere",
                                "Convtrack-Position": "1"}, b"{}")
