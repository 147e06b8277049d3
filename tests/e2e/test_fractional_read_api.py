"""Fractional models over HTTP: an action set to one, its credits with `credit` and their share
of the value, the explanation's words, reports with fractional counts (ADR 0035)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.e2e.test_read_api import TODAY, Shop, ago


@pytest.fixture
def shop(client: TestClient[Litestar], admin_headers: dict[str, str],
         catch_up: Callable[[], int]) -> Shop:
    """The shop's purchase action switched to linear; m1's purchase clicked C1, C2, C1."""
    shop = Shop(client, admin_headers)
    response = client.patch(f"/v1/conversion-actions/{shop.purchase}",
                            json={"attribution": "linear"}, headers=shop.auth)
    assert response.status_code == 200 and response.json()["attribution"] == "linear"
    shop.touch("k1", "m1", "click", shop.c1, ago(3))
    shop.touch("k2", "m1", "click", shop.c2, ago(2))
    shop.touch("k3", "m1", "click", shop.c1, ago(1.5))
    shop.touch("i1", "m1", "impression", shop.c2, ago(1.2))
    shop.convert("p1", "m1", shop.purchase, ago(1), {"amount_minor": 10000, "currency": "USD"})
    shop.touch("k4", "m2", "click", shop.c2, ago(2))
    shop.convert("x1", "m2", shop.download, ago(1))  # last touch: a whole credit
    shop.post(f"/v1/campaigns/{shop.c1}/spend", {"day": TODAY, "amount_minor": 1000,
                                                 "currency": "USD"})
    catch_up()
    return shop


def test_an_action_refuses_a_model_that_does_not_exist(shop: Shop) -> None:
    response = shop.client.patch(f"/v1/conversion-actions/{shop.purchase}",
                                 json={"attribution": "data_driven"}, headers=shop.auth)
    assert response.status_code in (400, 422)
    assert response.json()["field"] == "attribution"


def test_credits_carry_their_credit_and_their_share_of_the_value(shop: Shop) -> None:
    by_id = {i["event_id"]: i for i in shop.get("/v1/conversions")["items"]}
    assert [(a["campaign_id"], a["kind"], a["touch_event_id"], a["credit"], a["value_minor"])
            for a in by_id["p1"]["attributions"]] == [
        (shop.c2, "post_click", "k2", pytest.approx(1 / 3), 3333),
        (shop.c1, "post_click", "k3", pytest.approx(2 / 3), 6667)]
    [whole] = by_id["x1"]["attributions"]
    assert (whole["credit"], whole["value_minor"]) == (1.0, None)


def test_the_explanation_says_what_the_model_did_and_each_campaigns_share(shop: Shop) -> None:
    body = shop.get("/v1/conversions/p1/explanation")
    assert any(step.startswith("Model 'linear'") for step in body["steps"])
    assert f"{shop.c1} post-click 0.6667" in body["summary"]
    verdicts = {c["touch_event_id"]: c["verdict"] for c in body["candidates"]}
    assert verdicts == {"k1": "on_path", "k2": "credited", "k3": "credited",
                        "i1": "impression_off_path"}
    assert [a["credit"] for a in body["attributions"]] == [pytest.approx(1 / 3),
                                                            pytest.approx(2 / 3)]


def test_reports_count_fractional_conversions_and_sum_the_shared_value(shop: Shop) -> None:
    rows = {r["campaign_id"]: r for r in shop.get("/v1/reports/conversions",
                                                  group_by="campaign")["rows"]}
    assert (rows[shop.c1]["conversions"], rows[shop.c1]["value_minor"]) == (0.666666666667, 6667)
    assert (rows[shop.c2]["conversions"], rows[shop.c2]["value_minor"]) == (1.333333333333, 3333)
    assert rows[shop.c1]["cost_per_conversion_minor"] == 1500  # 1,000 / (2/3)
    [total] = shop.get("/v1/reports/conversions")["rows"]
    assert (total["conversions"], total["post_click"], total["post_view"]) == (2, 2, 0)
    assert isinstance(total["conversions"], int)


def test_the_csv_report_writes_fractional_counts_as_numbers(shop: Shop) -> None:
    response = shop.client.get("/v1/reports/conversions", params={"group_by": "campaign"},
                               headers=shop.auth | {"Accept": "text/csv"})
    rows = {r["campaign_id"]: r for r in csv.DictReader(io.StringIO(response.text))}
    assert rows[shop.c1]["conversions"] == "0.666666666667"
    assert rows[shop.c2]["conversions"] == "1.333333333333"
