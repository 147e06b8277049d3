"""What the read API answers, live or over a rebuild, and how two sets of answers differ."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import psycopg
from litestar import Litestar
from litestar.testing import TestClient
from psycopg import sql

from adapters.bootstrap import Container, build_app
from tests.adapters.read_side_support import wait_until
from tests.e2e.live_stack import rebuilt

GROUP_NAMES = ("campaign", "action", "day", "kind", "category")
GROUP_BYS = [",".join(combo) for n in range(len(GROUP_NAMES) + 1)
             for combo in itertools.combinations(GROUP_NAMES, n)]
# Sentences that list campaigns in the order of their ids (which differ between two stacks).
ID_ORDERED = re.compile(r"(?:(?<=linked campaigns: )|(?<=Attributed to ))(.*?)(?=\.$|\.; )")


def projections_status(client: TestClient[Litestar], headers: dict[str, str]) -> Any:
    """GET /v1/projections."""
    response = client.get("/v1/projections", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_lag_zero(client: TestClient[Litestar], headers: dict[str, str],
                      timeout: float = 30.0) -> None:
    """Wait until /v1/projections shows every projection at lag 0 (docs/api.md: Read side)."""
    def settled() -> bool:
        status = projections_status(client, headers)
        assert all(p["parked"] == 0 for p in status["projections"]), status
        return all(p["lag"] == 0 for p in status["projections"])
    wait_until(settled, timeout, "lag 0 in /v1/projections", interval=0.1)


def list_all_conversions(client: TestClient[Litestar], headers: dict[str, str]
                         ) -> dict[str, Any]:
    """Every conversion the caller sees, by event_id, through the cursor."""
    found: dict[str, Any] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/conversions", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        for item in page["items"]:
            assert item["event_id"] not in found, f"{item['event_id']} listed twice"
            found[item["event_id"]] = item
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def read_answers(client: TestClient[Litestar], headers: dict[str, str],
                 explanations: bool = True) -> dict[str, Any]:
    """What the read API says: every conversion, its explanation, every group_by report."""
    conversions = list_all_conversions(client, headers)
    reports: dict[str, Any] = {}
    for group_by in GROUP_BYS:
        response = client.get("/v1/reports/conversions", params={"group_by": group_by},
                              headers=headers)
        assert response.status_code == 200, response.text
        reports[group_by] = response.json()["rows"]
    explained: dict[str, Any] = {}
    if explanations:
        for event_id in conversions:
            response = client.get(f"/v1/conversions/{event_id}/explanation", headers=headers)
            assert response.status_code == 200, response.text
            explained[event_id] = response.json()
    return {"conversions": conversions, "reports": reports, "explanations": explained}


def rebuilt_answers(container: Container, callers: dict[str, dict[str, str]],
                    explanations: bool = True) -> dict[str, dict[str, Any]]:
    """The read API's answers to each caller over read models rebuilt from the event store."""
    with rebuilt(container) as (twin, read_models), \
            TestClient(build_app(twin, read_models)) as client:
        status = projections_status(client, next(iter(callers.values())))
        assert all(p["lag"] == 0 for p in status["projections"]), status
        return {name: read_answers(client, headers, explanations)
                for name, headers in callers.items()}


def table_rows(database_url: str, schema: str, tables: list[str]
               ) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the named tables of a schema, sorted."""
    with psycopg.connect(database_url) as connection:
        return {name: sorted(connection.execute(sql.SQL("SELECT * FROM {}").format(
                    sql.Identifier(schema, name))).fetchall(), key=repr) for name in tables}


def rebuilt_rows(container: Container) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model table as a rebuild from the event store fills it (the rebuild's schema
    holds read models only, so whatever tables it has are the ones to compare)."""
    url = container.settings.database_url
    assert url is not None
    with rebuilt(container) as (twin, _), psycopg.connect(url) as connection:
        schema = twin.settings.database_schema
        tables = [name for (name,) in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,)).fetchall()]
        return table_rows(url, schema, tables)


def differences(live: dict[str, Any], rebuild: dict[str, Any]) -> list[str]:
    """Where two answers differ, one line per differing entry (for readable failures)."""
    lines = []
    for section in sorted(set(live) | set(rebuild)):
        a, b = live.get(section, {}), rebuild.get(section, {})
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                if a.get(key) != b.get(key):
                    lines.append(f"{section}[{key}]:\n  live:    {a.get(key)}\n"
                                 f"  rebuild: {b.get(key)}")
        elif a != b:
            lines.append(f"{section}:\n  live:    {a}\n  rebuild: {b}")
    return lines


def assert_live_equals_rebuild(client: TestClient[Litestar], callers: dict[str, dict[str, str]],
                               container: Container, database_url: str, schema: str,
                               explanations: bool = True) -> dict[str, dict[str, Any]]:
    """What each caller reads, live and rebuilt, and every read-model row, are identical.

    Returns the live answers by caller."""
    wait_for_lag_zero(client, next(iter(callers.values())))
    live = {name: read_answers(client, headers, explanations)
            for name, headers in callers.items()}
    rebuild = rebuilt_answers(container, callers, explanations)
    for name in callers:
        found = differences(live[name], rebuild[name])
        assert not found, f"{name}:\n" + "\n".join(found[:20])
    rebuilt = rebuilt_rows(container)
    assert "attribution_conversions" in rebuilt and "audit_events" in rebuilt, list(rebuilt)
    live_rows = table_rows(database_url, schema, list(rebuilt))
    assert not differences(live_rows, rebuilt), "\n".join(differences(live_rows, rebuilt)[:20])
    return live


def normalised(answers: dict[str, Any], names: dict[str, str]) -> Any:
    """The answers with server-made ids named, and what depends on the ids' spelling or on
    the time of arrival left out: lists ordered by id are put in name order, and the ledger's
    arrival times are dropped."""
    text = json.dumps(answers, sort_keys=True)
    for server_id, name in names.items():
        text = text.replace(server_id, name)
    result = json.loads(text)
    for conversion in result["conversions"].values():
        conversion["attributions"].sort(key=json.dumps)
    for rows in result["reports"].values():
        rows.sort(key=lambda row: json.dumps(row, sort_keys=True))
    for explanation in result["explanations"].values():
        explanation["attributions"].sort(key=json.dumps)
        if explanation["settings"] is not None:
            explanation["settings"]["campaign_ids"].sort()
        explanation["steps"] = [name_order(step) for step in explanation["steps"]]
        explanation["summary"] = name_order(explanation["summary"])
        for copy in [explanation["ledger"]["recorded"], *explanation["ledger"]["duplicates"]]:
            copy.pop("received_at")
    return result


def name_order(sentence: str) -> str:
    """A sentence with its lists of campaigns in name order."""
    return ID_ORDERED.sub(lambda m: ", ".join(sorted(m[1].split(", "))), sentence)
