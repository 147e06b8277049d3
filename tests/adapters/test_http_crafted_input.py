"""Crafted input that once answered 500: now a 4xx naming the field, and nothing lost."""

from __future__ import annotations

import pytest

from tests.adapters.bad_input_support import ADMIN, Api, api  # noqa: F401  (api is a fixture)

DEEP = "[" * 5_000 + "]" * 5_000


@pytest.mark.parametrize("path", ["/v1/touches", "/v1/tags", "/v1/campaigns",
                                  "/v1/conversion-actions"])
@pytest.mark.parametrize("body", [DEEP, '{"touches": ' + DEEP + "}"], ids=["bare", "inside"])
def test_a_body_nested_thousands_deep_is_a_400(api: Api, path: str, body: str) -> None:
    headers = (ADMIN if path == "/v1/touches" else api.key) | {"Content-Type": "application/json"}
    response = api.client.post(path, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_a_conversion_body_nested_thousands_deep_is_a_400(api: Api) -> None:
    response = api.client.post("/v1/conversions", content=DEEP,
                               headers=api.key | {"Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_json")


@pytest.mark.parametrize("path", ["/v1/conversions?to=9999-12-31", "/v1/audit?to=9999-12-31",
                                  "/v1/reports/conversions?to=9999-12-31"])
def test_the_last_day_there_is_is_a_bound_like_any_other(api: Api, path: str) -> None:
    assert api.client.get(path, headers=api.key).status_code == 200


@pytest.mark.parametrize("query", ["from=0001-01-01T00:00:00%2B01:00",
                                   "to=9999-12-31T23:59:59-01:00"])
@pytest.mark.parametrize("path", ["/v1/conversions", "/v1/audit"])
def test_a_time_outside_the_years_utc_has_is_a_400_naming_it(
    api: Api, path: str, query: str
) -> None:
    response = api.client.get(f"{path}?{query}", headers=api.key)
    assert response.status_code == 400
    assert response.json()["field"] == query.split("=")[0]


@pytest.mark.parametrize("cursor", ["%C2%B2", "%D9%A3", "99999999999999999999999", "-1", "1.5"])
def test_an_audit_cursor_that_is_no_position_is_a_400(api: Api, cursor: str) -> None:
    response = api.client.get(f"/v1/audit?cursor={cursor}", headers=api.key)
    assert (response.status_code, response.json()["field"]) == (400, "cursor")


@pytest.mark.parametrize("cursor", ["AAAA%00", "AHg%3D", "%00"])
def test_a_conversions_cursor_with_a_nul_is_a_400(api: Api, cursor: str) -> None:
    response = api.client.get(f"/v1/conversions?cursor={cursor}", headers=api.key)
    assert (response.status_code, response.json()["field"]) == (400, "cursor")
