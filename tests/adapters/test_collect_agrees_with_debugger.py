"""The tag debugger and the collector agree (issue 10, point 8; ADR 0031): for any rules and any
page URL, `/collect` converts for exactly the actions `POST /v1/tags/{id}/debug` says fire."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from adapters.bootstrap import Container, build_app, build_collection, build_container
from adapters.settings import Settings
from application.fires import Fire
from application.member_tokens import MemberTokens
from tests.adapters.collect_support import Site
from tests.conftest import ADMIN_TOKEN

BASES = ["https://shop.example", "https://www.shop.example", "HTTPS://Shop.Example",
         "http://shop.example", "https://evil.example"]
PATHS = ["/thanks", "/Thanks", "/thanks/", "/cart", "/", "/thanks/done"]
QUERIES = ["", "?order=1", "?", "?next=/thanks"]
FRAGMENTS = ["", "#top", "#/thanks"]
# Mostly nothing, sometimes a few characters that matter to matching.
segment = st.one_of(st.just(""), st.text(alphabet="abT/?=#.", max_size=4))

rule = st.one_of(
    st.tuples(st.sampled_from(["exact", "starts_with"]),
              st.builds(lambda b, p, q, s: b + p + q + s, st.sampled_from(BASES),
                        st.sampled_from(PATHS), st.sampled_from(QUERIES), segment)),
    st.tuples(st.just("contains"),
              st.one_of(st.sampled_from(["/thanks", "thanks", "?order=", "Thanks", "/cart",
                                         "shop.example/", "#top", "/", "example"]),
                        st.text(alphabet="abT/?=#.", min_size=1, max_size=4))),
)
page = st.builds(lambda b, p, q, s, f: b + p + q + s + f,
                 st.sampled_from(BASES * 3 + ["https://shop.example.evil", "ftp://shop.example"]),
                 st.sampled_from(PATHS), st.sampled_from(QUERIES), segment,
                 st.sampled_from(FRAGMENTS))
action_settings = st.tuples(st.lists(rule, max_size=3), st.sampled_from([True, True, True, False]))


class Recorded:
    """A sink that keeps what the collector publishes."""

    def __init__(self) -> None:
        self.fires: list[Fire] = []

    async def publish(self, fire: Fire) -> bool:
        self.fires.append(fire)
        return True


@pytest.fixture
def agreeing(database_url: str, pg_schema: str, admin_headers: dict[str, str]
             ) -> Iterator[tuple[Site, Recorded, list[str]]]:
    """A site with three actions, its collector publishing into a list."""
    container: Container = build_container(Settings(
        database_url=database_url, database_schema=pg_schema, pool_size=2, collect_ip_rate=0),
        ADMIN_TOKEN)
    sink = Recorded()
    collection = build_collection(container, MemberTokens(container.secret_keys).verify, sink)
    try:
        client: TestClient[Litestar]
        with TestClient(build_app(container, collection=collection)) as client:
            site = Site(client, container, collection, admin_headers).set_up()
            site.register("www.shop.example")
            actions = [site.action(("contains", "/thanks"), name=f"A{i}") for i in range(3)]
            yield site, sink, actions
    finally:
        container.close()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(settings_of=st.lists(action_settings, min_size=3, max_size=3), url=page)
def test_the_collector_converts_for_exactly_the_actions_the_debugger_says_fire(
    agreeing: tuple[Site, Recorded, list[str]],
    settings_of: list[tuple[list[tuple[str, str]], bool]], url: str,
) -> None:
    site, sink, actions = agreeing
    for action, (rules, enabled) in zip(actions, settings_of):
        response = site.client.patch(f"/v1/conversion-actions/{action}", headers=site.key, json={
            "rules": [{"match": m, "url": u} for m, u in rules], "enabled": enabled})
        assert response.status_code == 200, response.text
    sink.fires.clear()

    debug = site.client.post(f"/v1/tags/{site.tag}/debug", json={"url": url}, headers=site.key)
    site.pixel(site.cookie(), url=url, eid="e1")

    assert debug.status_code == 200, debug.text
    said = [a["action_id"] for a in debug.json()["actions"] if a["fires"]]
    done = [action for fire in sink.fires for action, _ in fire.conversions]
    event(f"{len(said)} of 3 actions fire")
    assert done == said
