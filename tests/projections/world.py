"""A small world for read-model tests: facts recorded through the real applications.

The same helpers work on the in-memory applications and on a PostgreSQL container, so the
scenarios of the projection tests run unchanged on both stores.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from application.access import Caller
from application.facts import ConversionIn, TouchIn
from application.ingestion import IngestionApp
from application.management import ManagementApp
from domain.values import Money

NOW = datetime.now(UTC).replace(microsecond=0)
_ids = itertools.count(1)


def days(n: float) -> timedelta:
    return timedelta(days=n)


@dataclass
class World:
    """The applications, an account with a tag, and helpers that record facts."""

    management: ManagementApp
    ingestion: IngestionApp
    now: datetime = NOW

    def __post_init__(self) -> None:
        self.management.clock = lambda: self.now
        self.ingestion.clock = lambda: self.now
        self.owner = self.account("owner")
        self.tag_id = str(self.management.create_tag(self.owner, "shop").id)

    @classmethod
    def in_memory(cls) -> World:
        management = ManagementApp()
        return cls(management, IngestionApp(management))

    def sources(self, management_first: bool = True) -> dict[str, Any]:
        """The applications by source name, in the order a catch-up reads them."""
        pairs = [("management", self.management), ("ingestion", self.ingestion)]
        return dict(pairs if management_first else pairs[::-1])

    def account(self, name: str) -> Caller:
        created = self.management.create_account(Caller.admin(), name)
        return Caller.account(str(created.account.id))

    def campaign(self, status: str = "active", owner: Caller | None = None) -> str:
        return str(self.management.create_campaign(owner or self.owner, f"c{next(_ids)}",
                                                   "sponsored_content", status).id)

    def set_status(self, campaign_id: str, status: str) -> None:
        self.management.update_campaign(self.owner, campaign_id, name=None, status=status)

    def spend(self, campaign_id: str, day: str, amount_minor: int, currency: str = "USD") -> None:
        self.management.record_spend(self.owner, campaign_id, day, amount_minor, currency)

    def action(self, campaigns: list[str], category: str = "download", **settings: Any) -> str:
        fields = {"name": f"a{next(_ids)}", "category": category, "campaign_ids": campaigns}
        return str(self.management.create_action(self.owner, self.tag_id, fields | settings).id)

    def change_action(self, action_id: str, **changes: Any) -> None:
        self.management.update_action(self.owner, action_id, changes)

    def touch(self, member: str, kind: str, campaign_id: str, at: datetime,
              event_id: str | None = None) -> str:
        event_id = event_id or f"{kind[0]}{next(_ids)}"
        item = TouchIn(event_id, member, kind, campaign_id, at, {"event_id": event_id})
        [result] = self.ingestion.record_touches(Caller.admin(), [item])
        assert result.status == "accepted", result
        return event_id

    def click(self, member: str, campaign_id: str, at: datetime) -> str:
        return self.touch(member, "click", campaign_id, at)

    def impression(self, member: str, campaign_id: str, at: datetime) -> str:
        return self.touch(member, "impression", campaign_id, at)

    def convert(self, member: str, action_id: str, at: datetime, value: Money | None = None,
                event_id: str | None = None, expect: str = "accepted") -> str:
        event_id = event_id or f"x{next(_ids)}"
        item = ConversionIn(event_id, action_id, member, None, at, value, {"event_id": event_id})
        [result] = self.ingestion.record_conversions(self.owner, [item])
        assert result.status == expect, result
        return event_id
