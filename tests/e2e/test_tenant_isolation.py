"""Tenant isolation over HTTP on PostgreSQL: two advertisers whose ads reached the same members.

docs/api.md (Roles and access, and the privacy rule under Planned): an account sees only its own
conversions and the touches of campaigns it owns or that actions it can read link; an id it may
not see answers exactly like an id that does not exist. Accounts A and B each have a tag, a
campaign with spend, and an action linking the campaign; both campaigns touched the same members
(impressions and clicks) and both accounts recorded conversions for them. Every read endpoint is
then asked, as each account, and no id belonging only to the other may appear in the raw text of
any answer; probing the other's ids must answer as a nonexistent id does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import TestClient
from psycopg import sql

from adapters.bootstrap import build_app, build_container, build_read_models, catch_up_from_store
from adapters.settings import Settings
from tests.e2e.live_answers import GROUP_BYS

ADMIN_TOKEN = "admin_isolation_token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()
RUN = uuid.uuid4().hex[:8]  # every fact id below is unique to this run and never a substring


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


SHARED_MEMBERS = (fresh("member-shared"), fresh("member-shared"))
SHARED_EVENT_ID = fresh("order-in-both-tags")  # conversions are unique per tag, not globally


@dataclass
class Tenant:
    """One advertiser: its key, its catalogue, and the facts recorded for it."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    account_id: str = ""
    tag: str = ""
    campaign: str = ""
    action: str = ""
    only_member: str = ""  # touched and converted by this tenant alone
    lonely_member: str = ""  # converted here, never touched: an unattributed conversion
    touches: list[str] = field(default_factory=list)
    clicks: list[str] = field(default_factory=list)
    conversions: list[str] = field(default_factory=list)  # event ids of this tag alone

    def own_ids(self) -> dict[str, str]:
        """Every id that belongs to this tenant alone, named by what it is."""
        named = {"account": self.account_id, "tag": self.tag, "campaign": self.campaign,
                 "action": self.action, "only member": self.only_member,
                 "lonely member": self.lonely_member}
        named |= {f"touch {t}": t for t in self.touches}
        named |= {f"conversion {c}": c for c in self.conversions}
        return named


@dataclass
class World:
    client: TestClient[Litestar]
    a: Tenant
    b: Tenant

    def other(self, tenant: Tenant) -> Tenant:
        return self.b if tenant is self.a else self.a


def ok(response: Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _populate(client: TestClient[Litestar], tenant: Tenant,
              admin: dict[str, str] = ADMIN) -> None:
    created = ok(client.post("/v1/accounts", json={"name": tenant.name}, headers=admin))
    tenant.account_id = created["account_id"]
    tenant.headers = {"Authorization": f"Bearer {created['api_key']}"}
    h = tenant.headers
    tenant.tag = ok(client.post("/v1/tags", json={"name": "shop"}, headers=h))["tag_id"]
    tenant.campaign = ok(client.post("/v1/campaigns", json={"name": "c", "type": "text_ad"},
                                     headers=h))["campaign_id"]
    tenant.action = ok(client.post("/v1/conversion-actions", headers=h, json={
        "tag_id": tenant.tag, "name": "buy", "category": "purchase",
        "campaign_ids": [tenant.campaign]}))["action_id"]
    for day in (TODAY, TODAY - timedelta(days=1)):
        ok(client.post(f"/v1/campaigns/{tenant.campaign}/spend", headers=h, json={
            "day": day.isoformat(), "amount_minor": 700, "currency": "USD"}))
    tenant.only_member = fresh(f"member-{tenant.name}")
    tenant.lonely_member = fresh(f"member-{tenant.name}-lonely")
    touches = []
    for member in (*SHARED_MEMBERS, tenant.only_member):
        impression, click = fresh(f"{tenant.name}-imp-{RUN}"), fresh(f"{tenant.name}-clk-{RUN}")
        tenant.touches += [impression, click]
        tenant.clicks.append(click)
        touches += [
            {"event_id": impression, "member_id": member, "kind": "impression",
             "campaign_id": tenant.campaign, "occurred_at": ago(5)},
            {"event_id": click, "member_id": member, "kind": "click",
             "campaign_id": tenant.campaign, "occurred_at": ago(3)}]
    results = ok(client.post("/v1/touches", json={"touches": touches}, headers=admin))["results"]
    assert {r["status"] for r in results} == {"accepted"}, results
    conversions = []
    for member in (*SHARED_MEMBERS, tenant.only_member, tenant.lonely_member):
        event_id = fresh(f"{tenant.name}-conv-{RUN}")
        tenant.conversions.append(event_id)
        conversions.append({"event_id": event_id, "action_id": tenant.action,
                            "member_id": member, "occurred_at": ago(1),
                            "value": {"amount_minor": 5000, "currency": "USD"}})
    conversions.append({"event_id": SHARED_EVENT_ID, "action_id": tenant.action,
                        "member_id": SHARED_MEMBERS[0], "occurred_at": ago(0.5), "value": None})
    results = ok(client.post("/v1/conversions", json={"conversions": conversions},
                             headers=h))["results"]
    assert {r["status"] for r in results} == {"accepted"}, results


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[World]:
    """A and B populated over HTTP and projected, in a schema of this module's own."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    settings = Settings(database_url=database_url, database_schema=schema, pool_size=2)
    container = build_container(settings, ADMIN_TOKEN)
    models = build_read_models(container)
    try:
        with TestClient(build_app(container, models)) as client:
            world = World(client, Tenant("a"), Tenant("b"))
            _populate(client, world.a)
            _populate(client, world.b)
            catch_up_from_store(models, container)
            yield world
    finally:
        models.close()
        container.close()
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


# --- every read, as one tenant ------------------------------------------------------------------

def every_read(world: World, tenant: Tenant) -> dict[str, Response]:
    """Every read endpoint with every filter, as `tenant`, keyed by a label."""
    get = world.client.get
    h = tenant.headers
    reads: dict[str, Response] = {}

    def read(label: str, path: str, **params: Any) -> None:
        reads[label] = get(path, params=params, headers=h)

    read("conversions", "/v1/conversions")
    for name, value in (("action_id", tenant.action), ("campaign_id", tenant.campaign),
                        ("member_id", SHARED_MEMBERS[0]), ("member_id", SHARED_MEMBERS[1]),
                        ("member_id", tenant.only_member), ("member_id", tenant.lonely_member),
                        ("status", "attributed"), ("status", "deduplicated"),
                        ("status", "unattributed"), ("from", ago(2)), ("to", ago(0.1)),
                        ("from", TODAY.isoformat()), ("to", TODAY.isoformat())):
        read(f"conversions {name}={value}", "/v1/conversions", **{name: value})
    cursor, page = None, 0
    while True:  # one conversion per page, through every cursor
        response = get("/v1/conversions", params={"limit": 1} | (
            {"cursor": cursor} if cursor else {}), headers=h)
        reads[f"conversions page {page}"] = response
        cursor, page = ok(response)["next_cursor"], page + 1
        if cursor is None:
            break
    for event_id in (*tenant.conversions, SHARED_EVENT_ID):
        read(f"explanation {event_id}", f"/v1/conversions/{event_id}/explanation")
    read("explanation with tag_id", f"/v1/conversions/{SHARED_EVENT_ID}/explanation",
         tag_id=tenant.tag)
    for group_by in GROUP_BYS:
        read(f"report {group_by!r}", "/v1/reports/conversions", group_by=group_by)
        reads[f"report {group_by!r} csv"] = get(
            "/v1/reports/conversions", params={"group_by": group_by},
            headers=h | {"Accept": "text/csv"})
    read("report in a range", "/v1/reports/conversions", group_by="campaign,day",
         **{"from": (TODAY - timedelta(days=7)).isoformat(), "to": TODAY.isoformat()})
    read("audit", "/v1/audit", limit=1000)
    read("audit page", "/v1/audit", limit=2)
    for name, value in (("aggregate_id", tenant.tag), ("aggregate_id", tenant.account_id),
                        ("aggregate_id", tenant.campaign), ("aggregate_id", tenant.action),
                        ("account_id", tenant.account_id)):
        read(f"audit {name}={value}", "/v1/audit", **{name: value})
    read("tags", "/v1/tags")
    read("tag", f"/v1/tags/{tenant.tag}")
    read("grants", f"/v1/tags/{tenant.tag}/grants")
    read("snippet", f"/v1/tags/{tenant.tag}/snippet")
    read("campaigns", "/v1/campaigns")
    read("campaign", f"/v1/campaigns/{tenant.campaign}")
    read("actions", "/v1/conversion-actions")
    read("actions of the tag", "/v1/conversion-actions", tag_id=tenant.tag)
    read("action", f"/v1/conversion-actions/{tenant.action}")
    read("projections", "/v1/projections")
    return reads


@pytest.mark.parametrize("who", ["a", "b"])
def test_no_answer_to_an_account_holds_an_id_of_the_other_account(world: World, who: str
                                                                  ) -> None:
    tenant = getattr(world, who)
    others = world.other(tenant).own_ids()
    reads = every_read(world, tenant)
    for label, response in reads.items():
        assert response.status_code == 200, (label, response.text)
        leaked = [what for what, value in others.items() if value in response.text]
        assert not leaked, f"{label} shows the other account's {leaked}: {response.text}"
    # The scan is not vacuous: the tenant's own ids are all in its answers somewhere.
    everything = "\n".join(r.text for r in reads.values())
    missing = [what for what, value in tenant.own_ids().items() if value not in everything]
    assert not missing, missing


@pytest.mark.parametrize("who", ["a", "b"])
def test_an_explanation_shows_only_own_touches_and_counts_the_others(world: World, who: str
                                                                     ) -> None:
    tenant = getattr(world, who)
    other = world.other(tenant)
    for event_id in (tenant.conversions[0], SHARED_EVENT_ID):
        body = ok(world.client.get(f"/v1/conversions/{event_id}/explanation",
                                   headers=tenant.headers))
        assert body["tag_id"] == tenant.tag and body["status"] == "attributed"
        assert {c["campaign_id"] for c in body["candidates"]} == {tenant.campaign}
        assert len(body["candidates"]) == 2  # its impression and its click of the member
        assert body["other_touches"] == 2  # the other account's impression and click
        assert "2 other touch(es)" in " ".join(body["steps"])
        assert other.campaign not in str(body)
    only = ok(world.client.get(f"/v1/conversions/{tenant.conversions[2]}/explanation",
                               headers=tenant.headers))
    assert only["other_touches"] == 0  # a member only this tenant's campaign reached
    assert not any("other touch" in step for step in only["steps"])


@pytest.mark.parametrize("who", ["a", "b"])
def test_a_member_filter_narrows_only_within_the_callers_own_conversions(
    world: World, who: str
) -> None:
    tenant = getattr(world, who)
    other = world.other(tenant)
    for member, expected in ((SHARED_MEMBERS[0], {tenant.conversions[0], SHARED_EVENT_ID}),
                             (SHARED_MEMBERS[1], {tenant.conversions[1]}),
                             (other.only_member, set()), (other.lonely_member, set())):
        items = ok(world.client.get("/v1/conversions", params={"member_id": member},
                                    headers=tenant.headers))["items"]
        assert {i["event_id"] for i in items} == expected
        assert {i["tag_id"] for i in items} <= {tenant.tag}


# --- probing the other's ids --------------------------------------------------------------------

def probes(world: World, tenant: Tenant, probed: str) -> dict[str, Response]:
    """Every way a read (and a conversion batch) takes an id, asked with `probed`."""
    c, h = world.client, tenant.headers
    item = {"event_id": fresh("probe"), "action_id": probed, "member_id": SHARED_MEMBERS[0],
            "occurred_at": ago(0.1)}
    return {
        "conversions action_id": c.get("/v1/conversions", params={"action_id": probed},
                                       headers=h),
        "conversions campaign_id": c.get("/v1/conversions", params={"campaign_id": probed},
                                         headers=h),
        "conversions member_id": c.get("/v1/conversions", params={"member_id": probed},
                                       headers=h),
        "explanation": c.get(f"/v1/conversions/{probed}/explanation", headers=h),
        "explanation tag_id": c.get(f"/v1/conversions/{SHARED_EVENT_ID}/explanation",
                                    params={"tag_id": probed}, headers=h),
        "audit aggregate_id": c.get("/v1/audit", params={"aggregate_id": probed}, headers=h),
        "audit account_id": c.get("/v1/audit", params={"account_id": probed}, headers=h),
        "tag": c.get(f"/v1/tags/{probed}", headers=h),
        "grants": c.get(f"/v1/tags/{probed}/grants", headers=h),
        "snippet": c.get(f"/v1/tags/{probed}/snippet", headers=h),
        "debug": c.post(f"/v1/tags/{probed}/debug", json={"url": "https://x.example/"},
                        headers=h),
        "campaign": c.get(f"/v1/campaigns/{probed}", headers=h),
        "action": c.get(f"/v1/conversion-actions/{probed}", headers=h),
        "actions of a tag": c.get("/v1/conversion-actions", params={"tag_id": probed},
                                  headers=h),
        "conversion for an action": c.post("/v1/conversions", json={"conversions": [item]},
                                           headers=h),
    }


def answer(response: Response, probed: str) -> tuple[int, str]:
    """What a probe learns: the status and the body, with the probed id itself masked."""
    text = response.text.replace(probed, "<probed>")
    if response.request.method == "POST" and response.request.url.path == "/v1/conversions":
        # Each probe sends its own fresh event_id, which its result repeats.
        text = text.replace(response.json()["results"][0]["event_id"], "<event_id>")
    return response.status_code, text


def nonexistent_like(value: str) -> str:
    """An id of the same shape that names nothing."""
    try:
        uuid.UUID(value)
    except ValueError:
        return fresh(value.rsplit("-", 1)[0])
    return str(uuid.uuid4())


@pytest.mark.parametrize("who", ["a", "b"])
def test_probing_the_other_accounts_ids_answers_as_for_ids_that_do_not_exist(
    world: World, who: str
) -> None:
    tenant = getattr(world, who)
    for what, probed in world.other(tenant).own_ids().items():
        nothing = nonexistent_like(probed)
        seen, unknown = probes(world, tenant, probed), probes(world, tenant, nothing)
        for label, response in seen.items():
            assert answer(response, probed) == answer(unknown[label], nothing), (what, label)
            assert response.status_code in (200, 404), (what, label, response.text)


def test_an_explanation_of_the_others_conversion_is_the_404_of_a_nonexistent_one(
    world: World
) -> None:
    theirs = world.a.conversions[0]
    nothing = nonexistent_like(theirs)
    seen = world.client.get(f"/v1/conversions/{theirs}/explanation", headers=world.b.headers)
    absent = world.client.get(f"/v1/conversions/{nothing}/explanation", headers=world.b.headers)
    assert seen.status_code == absent.status_code == 404
    assert seen.json() == absent.json() | {"detail": absent.json()["detail"].replace(
        nothing, theirs)}
    assert seen.json()["error"] == "not_found" and set(seen.headers) == set(absent.headers)


def test_a_conversion_by_the_others_click_id_answers_as_an_unknown_click(world: World) -> None:
    # Click-id resolution across accounts (application/fact_checks.py, the lead's fix): a click
    # resolves only through a campaign the conversion's action links, so B cannot map A's click
    # ids to members, nor learn that they exist.
    def send(click_id: str) -> dict[str, Any]:
        item = {"event_id": fresh("b-by-click"), "action_id": world.b.action,
                "click_id": click_id, "occurred_at": ago(0.1)}
        [result] = ok(world.client.post("/v1/conversions", json={"conversions": [item]},
                                        headers=world.b.headers))["results"]
        return result | {"event_id": None, "detail": result["detail"].replace(click_id, "<c>")}

    nothing = fresh(f"a-clk-{RUN}")
    assert send(world.a.clicks[0]) == send(nothing)
    assert send(nothing)["reason"] == "unknown_click_id"


# --- shares: who sees what, and leaving -------------------------------------------------------

def test_who_asks_changes_which_touches_are_shown_never_the_outcome(
    client: TestClient[Litestar], admin_headers: dict[str, str], catch_up: Callable[[], int]
) -> None:
    owner, grantee = Tenant("owner"), Tenant("grantee")
    for tenant in (owner, grantee):
        created = ok(client.post("/v1/accounts", json={"name": tenant.name},
                                 headers=admin_headers))
        tenant.account_id = created["account_id"]
        tenant.headers = {"Authorization": f"Bearer {created['api_key']}"}
        tenant.campaign = ok(client.post("/v1/campaigns", json={"name": "c", "type": "other"},
                                         headers=tenant.headers))["campaign_id"]
    owner.tag = ok(client.post("/v1/tags", json={"name": "t"}, headers=owner.headers))["tag_id"]
    owner.action = ok(client.post("/v1/conversion-actions", headers=owner.headers, json={
        "tag_id": owner.tag, "name": "lead", "category": "lead",
        "campaign_ids": [owner.campaign]}))["action_id"]
    ok(client.post(f"/v1/tags/{owner.tag}/grants", headers=owner.headers,
                   json={"account_id": grantee.account_id, "role": "viewer"}))
    member = fresh("member")
    ok(client.post("/v1/touches", headers=admin_headers, json={"touches": [
        {"event_id": fresh("own-click"), "member_id": member, "kind": "click",
         "campaign_id": owner.campaign, "occurred_at": ago(3)},
        {"event_id": fresh("grantees-click"), "member_id": member, "kind": "click",
         "campaign_id": grantee.campaign, "occurred_at": ago(2)}]}))
    ok(client.post("/v1/conversions", headers=owner.headers, json={"conversions": [
        {"event_id": "lead-1", "action_id": owner.action, "member_id": member,
         "occurred_at": ago(1)}]}))
    catch_up()
    seen = {t.name: ok(client.get("/v1/conversions/lead-1/explanation", headers=t.headers))
            for t in (owner, grantee)}
    outcome = ("status", "summary", "attributions", "value", "settings", "counting")
    assert {k: seen["owner"][k] for k in outcome} == {k: seen["grantee"][k] for k in outcome}
    assert seen["owner"]["status"] == "attributed"
    # The owner may not see the grantee's campaign; the grantee sees its own campaign and the
    # one the action it can read links.
    shown = {n: {c["campaign_id"] for c in e["candidates"]} for n, e in seen.items()}
    assert shown == {"owner": {owner.campaign},
                     "grantee": {owner.campaign, grantee.campaign}}
    assert (seen["owner"]["other_touches"], seen["grantee"]["other_touches"]) == (1, 0)
    assert grantee.campaign not in str(seen["owner"])


def test_an_account_shared_into_unasked_can_leave_and_its_answers_are_its_own_again(
    client: TestClient[Litestar], admin_headers: dict[str, str], catch_up: Callable[[], int]
) -> None:
    a, b = Tenant("a"), Tenant("b")
    _populate(client, a, admin_headers)
    _populate(client, b, admin_headers)
    catch_up()

    def totals() -> tuple[set[str], int]:
        listed = ok(client.get("/v1/conversions", headers=a.headers))["items"]
        [row] = ok(client.get("/v1/reports/conversions", headers=a.headers))["rows"]
        return {i["tag_id"] for i in listed}, row["conversions"]

    before = totals()
    ok(client.post(f"/v1/tags/{b.tag}/grants", headers=b.headers,
                   json={"account_id": a.account_id, "role": "viewer"}))
    # Nobody asked A: B's conversions now count in A's unfiltered answers.
    assert totals() == ({a.tag, b.tag}, 2 * before[1])
    left = client.delete(f"/v1/tags/{b.tag}/grants/{a.account_id}", headers=a.headers)
    assert (left.status_code, left.json()) == (200, {"account_id": a.account_id, "role": None})
    assert totals() == before == ({a.tag}, 4)  # the lonely conversion is unattributed
