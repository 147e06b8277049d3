"""Collection while a dependency is away (ADR 0032): without NATS, fires are answered alike at
once and counted lost; without PostgreSQL, they are accepted and wait in JetStream."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.bootstrap import Container, build_container
from adapters.settings import Settings
from tests.adapters.collect_support import (
    THANKS,
    Site,
    answer,
    collecting,
    drop_fires_stream,
    fires_consumer,
    stream_size,
)
from tests.adapters.read_side_support import wait_until
from tests.conftest import ADMIN_TOKEN
from tests.e2e.tcp_proxy import TcpProxy


def unavailable() -> float:
    return REGISTRY.get_sample_value("convtrack_collect_fires_total",
                                     {"outcome": "unavailable"}) or 0.0


def proxy_to(url: str, default_port: int) -> TcpProxy:
    host, _, port = url.rpartition("//")[2].rpartition(":")
    return TcpProxy(host or "127.0.0.1", int(port or default_port))


@pytest.fixture
def nats_proxy(nats_url: str) -> Iterator[TcpProxy]:
    with proxy_to(nats_url, 4222) as proxy:
        yield proxy


@pytest.mark.slow
def test_while_nats_is_unreachable_fires_are_answered_alike_at_once_and_counted_lost(
    database_url: str, pg_schema: str, nats_url: str, nats_proxy: TcpProxy,
    admin_headers: dict[str, str]
) -> None:
    container = build_container(Settings(
        database_url=database_url, database_schema=pg_schema, pool_size=2, collect_ip_rate=0,
        nats_url=f"nats://127.0.0.1:{nats_proxy.port}"), ADMIN_TOKEN)
    try:
        with collecting(container) as (client, collection):
            site = Site(client, container, collection, admin_headers).set_up()
            site.action(("contains", "/thanks"))
            site.sync_model()
            cookie = site.cookie()
            reachable = answer(site.pixel(cookie, url=THANKS, eid="before"))
            assert stream_size(nats_url, container.topology) == 1
            nats_proxy.cut()
            publisher = collection.publisher
            assert publisher is not None
            wait_until(lambda: not publisher.connected, 10, "the collector to lose NATS")
            before = unavailable()

            began = time.monotonic()
            cut = [answer(site.pixel(cookie, url=THANKS, eid=f"cut-{i}")) for i in range(5)]
            seconds = time.monotonic() - began

            nats_proxy.restore()
            wait_until(lambda: publisher.connected, 20, "the collector to reach NATS again")
            after = answer(site.pixel(cookie, url=THANKS, eid="after"))
    finally:
        container.close()
        drop_fires_stream(nats_url, container.topology)

    assert set(cut) == {reachable} and after == reachable
    assert unavailable() - before == 5
    assert seconds < 1.0  # no waiting on a connection known to be down
    print(f"5 fires while NATS was cut answered in {seconds * 1000:.1f} ms")


@pytest.mark.slow
def test_fires_wait_in_jetstream_while_the_database_is_down_and_are_recorded_after(
    database_url: str, pg_schema: str, nats_url: str, admin_headers: dict[str, str]
) -> None:
    info = conninfo_to_dict(database_url)
    with TcpProxy(str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)) as proxy:
        url = make_conninfo(database_url, host="127.0.0.1", port=str(proxy.port))
        container: Container = build_container(Settings(
            database_url=url, database_schema=pg_schema, pool_size=2, db_timeout=1,
            collect_ip_rate=0, nats_url=nats_url), ADMIN_TOKEN)
        try:
            with collecting(container) as (client, collection), \
                    fires_consumer(container, nats_url):
                site = Site(client, container, collection, admin_headers).set_up()
                site.action(("contains", "/thanks"))
                site.sync_model()
                proxy.cut()

                answers = {answer(site.pixel(site.cookie(), url=THANKS, eid=f"e{i}"))
                           for i in range(3)}
                time.sleep(2)  # the consumer tries, and fails, to record them meanwhile
                waiting = stream_size(nats_url, container.topology)
                proxy.restore()
                wait_until(lambda: stream_size(nats_url, container.topology) == 0, 30,
                           "the fires to be recorded once the database is back")
            keys = container.ingestion.ledger.find_fact_keys(f"conversion:{site.tag}",
                                                             ["e0", "e1", "e2"])
        finally:
            proxy.restore()
            container.close()
            drop_fires_stream(nats_url, container.topology)

    assert len(answers) == 1 and next(iter(answers))[0] == 200
    assert waiting == 3
    assert sorted(keys) == ["e0", "e1", "e2"]
