"""An advertiser driven over HTTP, its catalogue, and seeded random facts for the e2e tests.

Fact times are relative to one instant and unique across the whole workload: docs/attribution.md
breaks ties on time by recording order, which is exactly what a shuffled arrival changes, so a
tie would make "any order gives the in-order result" untrue by the rules themselves.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

BATCH = 12


def rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Fact:
    """A touch or a conversion, as the HTTP API takes it."""

    kind: str  # "touch" | "conversion"
    member: str
    at: datetime
    body: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.body["event_id"])


class Advertiser:
    """An account with a tag, campaigns and actions, set up and fed through the HTTP API."""

    def __init__(self, client: TestClient[Litestar], admin: dict[str, str]) -> None:
        self.client, self.admin = client, admin
        response = client.post("/v1/accounts", json={"name": "shop"}, headers=admin)
        assert response.status_code == 201, response.text
        self.account_id = response.json()["account_id"]
        self.auth = {"Authorization": f"Bearer {response.json()['api_key']}"}
        self.tag_id = self.post("/v1/tags", {"name": "shop"})["tag_id"]
        self.campaigns: dict[str, str] = {}  # name -> id
        self.actions: dict[str, str] = {}  # name -> id

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
             ) -> Any:
        response = self.client.post(path, json=body, headers=headers or self.auth)
        assert response.status_code in (200, 201), (path, response.text)
        return response.json()

    def campaign(self, name: str, kind: str, status: str = "active") -> str:
        self.campaigns[name] = self.post("/v1/campaigns", {"name": name, "type": kind,
                                                           "status": status})["campaign_id"]
        return self.campaigns[name]

    def set_status(self, name: str, status: str) -> None:
        response = self.client.patch(f"/v1/campaigns/{self.campaigns[name]}",
                                     json={"status": status}, headers=self.auth)
        assert response.status_code == 200, response.text

    def spend(self, name: str, day: str, amount_minor: int) -> None:
        self.post(f"/v1/campaigns/{self.campaigns[name]}/spend",
                  {"day": day, "amount_minor": amount_minor, "currency": "USD"})

    def action(self, name: str, category: str, campaigns: list[str], **settings: Any) -> str:
        body = {"tag_id": self.tag_id, "name": name, "category": category,
                "campaign_ids": [self.campaigns[c] for c in campaigns]} | settings
        self.actions[name] = self.post("/v1/conversion-actions", body)["action_id"]
        return self.actions[name]

    def change_action(self, name: str, changes: dict[str, Any]) -> None:
        response = self.client.patch(f"/v1/conversion-actions/{self.actions[name]}",
                                     json=changes, headers=self.auth)
        assert response.status_code == 200, response.text

    def archive_action(self, name: str) -> None:
        self.post(f"/v1/conversion-actions/{self.actions[name]}/archive", {})

    def consent(self, member: str, change: str) -> None:
        self.post(f"/v1/members/{member}/{change}", {}, self.admin)

    def send(self, facts: list[Fact]) -> list[str]:
        """Send facts in order, in batches of consecutive facts of one kind; their statuses."""
        statuses: list[str] = []
        start = 0
        while start < len(facts):
            kind = facts[start].kind
            end = start
            while end < len(facts) and end - start < BATCH and facts[end].kind == kind:
                end += 1
            statuses += self._send_batch(kind, facts[start:end])
            start = end
        return statuses

    def _send_batch(self, kind: str, facts: list[Fact]) -> list[str]:
        items = [self.resolve(f.body) for f in facts]
        if kind == "touch":
            results = self.post("/v1/touches", {"touches": items}, self.admin)["results"]
        else:
            results = self.post("/v1/conversions", {"conversions": items})["results"]
        assert [r["event_id"] for r in results] == [f.event_id for f in facts]
        assert all(r["status"] != "rejected" for r in results), results
        return [str(r["status"]) for r in results]

    def resolve(self, body: dict[str, Any]) -> dict[str, Any]:
        """A fact body with campaign and action names replaced by this stack's ids."""
        resolved = dict(body)
        if "campaign_id" in resolved:
            resolved["campaign_id"] = self.campaigns[resolved["campaign_id"]]
        if "action_id" in resolved:
            resolved["action_id"] = self.actions[resolved["action_id"]]
        return resolved

    def names(self) -> dict[str, str]:
        """Every server-made id of this advertiser and the stable name it stands for."""
        return ({i: f"<campaign {n}>" for n, i in self.campaigns.items()}
                | {i: f"<action {n}>" for n, i in self.actions.items()}
                | {self.tag_id: "<tag>", self.account_id: "<account>"})


@dataclass
class FactMaker:
    """Seeded random facts with times unique across everything it makes."""

    now: datetime
    seed: int
    rng: random.Random = field(init=False)
    _used: set[datetime] = field(default_factory=set)
    _counter: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def unique(self, at: datetime) -> datetime:
        at = at.replace(microsecond=0)
        while at in self._used:
            at += timedelta(seconds=1)
        self._used.add(at)
        return at

    def touch(self, member: str, campaign: str, at: datetime, kind: str | None = None) -> Fact:
        self._counter += 1
        at = self.unique(at)
        kind = kind or ("click" if self.rng.random() < 0.3 else "impression")
        return Fact("touch", member, at, {
            "event_id": f"t{self._counter:04d}-{member}", "member_id": member, "kind": kind,
            "campaign_id": campaign, "occurred_at": rfc3339(at)})

    def conversion(self, member: str, action: str, at: datetime,
                   value: dict[str, Any] | None = None, *, by_click: str | None = None,
                   event_id: str | None = None) -> Fact:
        self._counter += 1
        at = self.unique(at)
        body: dict[str, Any] = {"event_id": event_id or f"x{self._counter:04d}-{member}",
                                "action_id": action, "occurred_at": rfc3339(at), "value": value}
        if by_click is None:
            body["member_id"] = member
        else:
            body["click_id"] = by_click
        return Fact("conversion", member, at, body)

    def member_facts(self, member: str, campaigns: list[str], actions: list[str]) -> list[Fact]:
        """A member's history around an anchor: touches in the 40 days before it, conversions
        from two days before it to three after, so windows of 1 to 90 days all matter."""
        anchor = self.now - timedelta(days=self.rng.uniform(5, 70))
        facts = []
        for _ in range(self.rng.randint(0, 6)):
            at = anchor - timedelta(hours=self.rng.uniform(0, 40 * 24))
            facts.append(self.touch(member, self.rng.choice(campaigns), at))
        for _ in range(self.rng.randint(0, 3)):
            at = anchor + timedelta(hours=self.rng.uniform(-48, 72))
            value = None if self.rng.random() < 0.4 else {
                "amount_minor": self.rng.randint(100, 50_000), "currency": "USD"}
            facts.append(self.conversion(member, self.rng.choice(actions), at, value))
        return facts


def batches_of(facts: list[Fact], rng: random.Random, size: int = BATCH) -> list[list[Fact]]:
    """The facts shuffled and cut into one-kind batches, touches and conversions interleaved."""
    touches = [f for f in facts if f.kind == "touch"]
    conversions = [f for f in facts if f.kind == "conversion"]
    rng.shuffle(touches)
    rng.shuffle(conversions)
    chunks = [touches[i:i + size] for i in range(0, len(touches), size)] + \
             [conversions[i:i + size] for i in range(0, len(conversions), size)]
    rng.shuffle(chunks)
    return chunks


CAMPAIGNS = [("c1", "sponsored_content", "active"), ("c2", "text_ad", "active"),
             ("c3", "video_ad", "active"), ("c4", "message_ad", "paused"),
             ("c5", "other", "active")]  # c5 is linked to no action: its touches never count
ACTIONS: list[tuple[str, str, list[str], dict[str, Any]]] = [
    ("purchase", "purchase", ["c1", "c2", "c3"],
     {"value": {"amount_minor": 5000, "currency": "USD"}}),
    ("lead", "lead", ["c1", "c2", "c3", "c4"],
     {"value_mode": "fixed", "value": {"amount_minor": 2000, "currency": "USD"},
      "click_window_days": 90, "view_window_days": 30,
      "attribution": "last_touch_last_campaign"}),
    ("download", "download", ["c2", "c3"],
     {"value_mode": "none", "counting": "each", "click_window_days": 7, "view_window_days": 1,
      "attribution": "last_touch_last_campaign"}),
    ("signup", "sign_up", ["c1", "c3", "c4"], {"click_window_days": 1, "view_window_days": 1}),
    ("cart", "add_to_cart", ["c1", "c4"],
     {"counting": "one", "click_window_days": 365, "view_window_days": 90}),
]


def catalogue(shop: Advertiser, now: datetime, campaigns: list[tuple[str, str, str]] = CAMPAIGNS
              ) -> None:
    """Campaigns with spend (one day recorded twice: the last wins) and five actions."""
    for name, kind, status in campaigns:
        shop.campaign(name, kind, status)
        for back in (0, 1, 2, 10, 30):
            shop.spend(name, (now - timedelta(days=back)).date().isoformat(),
                       1000 * (back + 1) + len(name))
    shop.spend("c1", now.date().isoformat(), 12_345)
    for name, category, linked, settings in ACTIONS:
        shop.action(name, category, [c for c in linked if c in shop.campaigns], **settings)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def credited(conversions: dict[str, Any], touch_event_id: str) -> list[str]:
    """The conversions that credit this touch."""
    return [e for e, c in conversions.items()
            if any(a["touch_event_id"] == touch_event_id for a in c["attributions"])]
