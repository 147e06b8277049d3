"""Random documents at every body endpoint and random strings at every query parameter.

Whatever arrives, the answer is never a 5xx, a 4xx has the error shape of docs/api.md, and the
valid item of a batch is recorded whatever its neighbour is. The operations are read from the
app's own OpenAPI document, so a new endpoint is covered the day it is added.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adapters.bad_input_support import (  # noqa: F401  (api is a fixture)
    ADMIN,
    RECENT,
    Api,
    api,
    fresh,
)

ERROR_KEYS = {"error", "detail", "field"}
ADMIN_PATHS = ("/v1/accounts", "/v1/touches", "/v1/members/")
# CONVTRACK_FUZZ_EXAMPLES raises the count for a longer hunt by hand; CI runs the default.
EXAMPLES = settings(max_examples=int(os.environ.get("CONVTRACK_FUZZ_EXAMPLES", "60")),
                    deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

# Odd times, numbers and strings: the kinds of values that once answered 500.
ODD_TIMES = st.sampled_from([
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-02-30T00:00:00Z",
    "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+99:00", "2026-01-01", "", "T", RECENT,
    "2026-01-01T00:00:00.9999999999Z", "+002026-01-01T00:00:00Z"])
ODD_NUMBERS = st.one_of(st.integers(min_value=-(2**80), max_value=2**80),
                        st.floats(allow_nan=False, allow_infinity=False))
ODD_STRINGS = st.one_of(st.text(max_size=40), st.just("\x00"), st.just("a" * 5_000),
                        st.just("ct_"), st.just("../../etc"), ODD_TIMES)
SCALARS = st.one_of(st.none(), st.booleans(), ODD_NUMBERS, ODD_STRINGS)
DOCUMENTS = st.recursive(
    SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(ODD_STRINGS, inner, max_size=4)),
    max_leaves=12)
# Field names the endpoints know, so documents often get past the first check.
KNOWN_FIELDS = st.sampled_from([
    "name", "type", "status", "domain", "account_id", "role", "url", "day", "amount_minor",
    "currency", "tag_id", "category", "rules", "campaign_ids", "event_id", "member_id", "kind",
    "campaign_id", "occurred_at", "action_id", "click_id", "value", "touches", "conversions",
    "click_window_days", "view_window_days", "counting", "match"])
SHAPED = st.dictionaries(KNOWN_FIELDS, DOCUMENTS, max_size=6)


def operations(api: Api, want_body: bool) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of the document, path ids filled with the api's own data."""
    document = api.client.get("/schema/openapi.json").json()
    ids = {"tag_id": api.tag, "campaign_id": api.campaign, "action_id": api.action,
           "account_id": api.other_account, "member_id": "m-random", "event_id": "e-random",
           "domain": "shop.example", "key_id": "k-random"}
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            if want_body != ("requestBody" in operation):
                continue
            filled = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x"), path)
            found.append((method.upper(), filled, operation))
    return found


def headers_for(api: Api, path: str) -> dict[str, str]:
    return ADMIN if path.startswith(ADMIN_PATHS) else api.key


def assert_answer_is_sound(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert ERROR_KEYS <= set(response.json()), response.text


def test_random_documents_at_every_body_endpoint_never_answer_5xx(api: Api) -> None:
    targets = operations(api, want_body=True)
    assert len(targets) >= 10  # the document lists the body endpoints

    @EXAMPLES
    @given(document=st.one_of(DOCUMENTS, SHAPED), index=st.integers(0, len(targets) - 1))
    def check(document: Any, index: int) -> None:
        method, path, _ = targets[index]
        response = api.client.request(method, path, content=json.dumps(document),
                                      headers=headers_for(api, path)
                                      | {"Content-Type": "application/json"})
        assert_answer_is_sound(response)

    check()


@pytest.mark.parametrize("raw", [
    b'{"touches": [{"occurred_at": 1e999}]}', b'{"name": -0}', b'{"name": 1e-400}',
    b'{"touches": ' + b"[" * 3_000 + b"]" * 3_000 + b"}", b'{"name": "\\ud800"}',
    b'{"name": "a", "name": "b"}', b"\xef\xbb\xbf{}", b'{"touches": [' + b"{}," * 999 + b"{}]}",
])
def test_odd_json_texts_at_every_body_endpoint_never_answer_5xx(api: Api, raw: bytes) -> None:
    for method, path, _ in operations(api, want_body=True):
        response = api.client.request(method, path, content=raw,
                                      headers=headers_for(api, path)
                                      | {"Content-Type": "application/json"})
        assert_answer_is_sound(response)


def test_random_strings_in_every_query_parameter_never_answer_5xx(api: Api) -> None:
    targets = [(m, p, [q["name"] for q in o.get("parameters", []) if q["in"] == "query"])
               for m, p, o in operations(api, want_body=False)]
    targets = [t for t in targets if t[2]]
    assert targets  # the read endpoints have query parameters

    @EXAMPLES
    @given(index=st.integers(0, len(targets) - 1), values=st.lists(ODD_STRINGS, min_size=1,
                                                                   max_size=4))
    def check(index: int, values: list[str]) -> None:
        method, path, names = targets[index]
        params = {names[i % len(names)]: v for i, v in enumerate(values)}
        response = api.client.request(method, path, params=params,
                                      headers=headers_for(api, path))
        assert_answer_is_sound(response)

    check()


def test_the_valid_item_of_a_batch_is_recorded_whatever_its_neighbour_is(api: Api) -> None:
    @EXAMPLES
    @given(junk=st.one_of(DOCUMENTS, SHAPED), first=st.booleans())
    def check(junk: Any, first: bool) -> None:
        good = {"event_id": fresh("t"), "member_id": fresh("m"), "kind": "click",
                "campaign_id": api.campaign, "occurred_at": RECENT}
        items = [good, junk] if first else [junk, good]
        response = api.client.post("/v1/touches", content=json.dumps({"touches": items}),
                                   headers=ADMIN | {"Content-Type": "application/json"})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert len(results) == 2
        assert results[0 if first else 1] == {
            "event_id": good["event_id"], "status": "accepted", "reason": None,
            "field": None, "detail": None}

    check()
