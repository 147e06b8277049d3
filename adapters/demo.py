"""A demo data set, loaded through the applications like real traffic (issue 2: --demo).

One advertiser with a tag, four campaigns with 60 days of spend, five conversion actions of
different categories, and a few thousand members with touches and conversions over the last
60 days. Deterministic (seeded), so the demo looks the same on every machine.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.progress import Progress
from application.access import Caller
from application.facts import ConversionIn, TouchIn
from application.ingestion import IngestionApp
from application.management import ManagementApp
from domain.values import Money

BATCH = 500

CAMPAIGNS = [
    ("Autumn sale - sponsored content", "sponsored_content", 0.30),
    ("Brand text ads", "text_ad", 0.25),
    ("Retargeting video", "video_ad", 0.20),
    ("Webinar invitations", "message_ad", 0.25),
]
ACTIONS: list[dict[str, Any]] = [
    {"name": "Purchase", "category": "purchase", "value": {"amount_minor": 5000, "currency": "USD"},
     "rules": [{"match": "contains", "url": "/checkout/thank-you"}]},
    {"name": "Lead form sent", "category": "lead", "value_mode": "fixed",
     "value": {"amount_minor": 2000, "currency": "USD"},
     "rules": [{"match": "starts_with", "url": "https://shop.example.com/contact/sent"}]},
    {"name": "Sign-up", "category": "sign_up",
     "rules": [{"match": "exact", "url": "https://shop.example.com/welcome"}]},
    {"name": "Catalogue download", "category": "download", "value_mode": "none",
     "rules": [{"match": "contains", "url": "/downloads/catalogue.pdf"}]},
    {"name": "Pricing page", "category": "key_page_view", "view_window_days": 1,
     "rules": [{"match": "contains", "url": "/pricing"}]},
]


@dataclass(frozen=True)
class DemoInfo:
    """What a newcomer needs to explore the demo."""

    account_id: str
    api_key: str
    tag_id: str
    campaign_ids: list[str]
    action_ids: list[str]
    touches: int
    conversions: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_demo(
    management: ManagementApp, ingestion: IngestionApp, *, members: int = 3000, seed: int = 7
) -> DemoInfo:
    """Create the demo advertiser and replay 60 days of traffic, with a progress bar."""
    rng = random.Random(seed)
    admin = Caller.admin()
    account = management.create_account(admin, "Demo Shop")
    caller = management.authenticate(account.api_key)
    tag = management.create_tag(caller, "shop.example.com")
    tag_id = str(tag.id)
    for domain in ("shop.example.com", "example.com"):
        management.register_domain(caller, tag_id, domain)
    now = management.clock()
    campaign_ids = []
    for name, kind, _ in CAMPAIGNS:
        campaign_id = str(management.create_campaign(caller, name, kind, "active").id)
        campaign_ids.append(campaign_id)
        for day in range(60, -1, -1):
            amount = rng.randint(4_000, 25_000)
            management.record_spend(caller, campaign_id, (now - timedelta(days=day)).date()
                                    .isoformat(), amount, "USD")
    action_ids = [str(management.create_action(caller, tag_id, spec | {"campaign_ids":
                                                                            campaign_ids}).id)
                  for spec in ACTIONS]
    touches, conversions = _traffic(rng, now, members, campaign_ids, action_ids)
    progress = Progress("demo traffic", len(touches) + len(conversions))
    for start in range(0, len(touches), BATCH):
        ingestion.record_touches(admin, touches[start:start + BATCH])
        progress.advance(len(touches[start:start + BATCH]))
    for start in range(0, len(conversions), BATCH):
        ingestion.record_conversions(caller, conversions[start:start + BATCH])
        progress.advance(len(conversions[start:start + BATCH]))
    return DemoInfo(str(account.account.id), account.api_key, tag_id, campaign_ids, action_ids,
                    len(touches), len(conversions))


def _traffic(
    rng: random.Random, now: datetime, members: int, campaign_ids: list[str],
    action_ids: list[str],
) -> tuple[list[TouchIn], list[ConversionIn]]:
    weights = [w for _, _, w in CAMPAIGNS]
    touches: list[TouchIn] = []
    conversions: list[ConversionIn] = []
    for m in range(members):
        member_id = f"demo-member-{m:05d}"
        seen = rng.choices(campaign_ids, weights=weights, k=rng.randint(1, 2))
        last_touch = None
        for _ in range(rng.randint(1, 8)):
            at = now - timedelta(minutes=rng.randint(60, 60 * 24 * 60))
            kind = "click" if rng.random() < 0.2 else "impression"
            touches.append(TouchIn(f"demo-touch-{len(touches):06d}", member_id, kind,
                                   rng.choice(seen), at, {}))
            last_touch = at if last_touch is None or at > last_touch else last_touch
        if rng.random() < 0.35 and last_touch is not None:
            for _ in range(rng.randint(1, 2)):
                at = min(last_touch + timedelta(minutes=rng.randint(5, 60 * 24 * 9)), now)
                action_id = rng.choice(action_ids)
                value = Money(rng.randint(1_500, 30_000), "USD") if rng.random() < 0.7 else None
                conversions.append(ConversionIn(f"demo-conv-{len(conversions):06d}", action_id,
                                                member_id, None, at, value, {}))
    return touches, conversions
