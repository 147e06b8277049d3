"""The Account aggregate: an advertiser, its API key and the things it owns or was shown."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event


def hash_api_key(api_key: str) -> str:
    """SHA-256 of the key: keys are 256-bit random, so a slow KDF would add nothing (ADR 0005)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


class Account(Aggregate):
    """An advertiser account.

    Invariants: the API key is held only as its hash; `tag_ids` and `campaign_ids` list what the
    account created, `shared_tag_ids` the tags other accounts granted it (an index kept in step
    with `InsightTag` grants, saved in the same transaction).
    """

    TOPIC = "convtrack:Account"

    class Event(Aggregate.Event):
        actor: str
        occurred_at: datetime

    class Created(Event, Aggregate.Created):
        TOPIC = "convtrack:Account.Created"
        name: str
        api_key_hash: str

    class TagAdded(Event):
        TOPIC = "convtrack:Account.TagAdded"
        tag_id: str

    class CampaignAdded(Event):
        TOPIC = "convtrack:Account.CampaignAdded"
        campaign_id: str

    class TagShared(Event):
        TOPIC = "convtrack:Account.TagShared"
        tag_id: str

    class TagUnshared(Event):
        TOPIC = "convtrack:Account.TagUnshared"
        tag_id: str

    @event(Created)
    def __init__(
        self, id: UUID, name: str, api_key_hash: str, actor: str, occurred_at: datetime
    ) -> None:
        self.name = name
        self.api_key_hash = api_key_hash
        self.tag_ids: list[str] = []
        self.campaign_ids: list[str] = []
        self.shared_tag_ids: list[str] = []

    def key_matches(self, api_key: str) -> bool:
        """Constant-time comparison, so response timing does not leak the hash."""
        return hmac.compare_digest(self.api_key_hash, hash_api_key(api_key))

    @event(TagAdded)
    def add_tag(self, tag_id: str, actor: str, occurred_at: datetime) -> None:
        self.tag_ids.append(tag_id)

    @event(CampaignAdded)
    def add_campaign(self, campaign_id: str, actor: str, occurred_at: datetime) -> None:
        self.campaign_ids.append(campaign_id)

    def share_tag(self, tag_id: str, actor: str, occurred_at: datetime) -> None:
        """Index a tag granted to this account; a role change of an existing grant adds nothing."""
        if tag_id not in self.shared_tag_ids:
            self._share_tag(tag_id, actor, occurred_at)

    @event(TagShared)
    def _share_tag(self, tag_id: str, actor: str, occurred_at: datetime) -> None:
        self.shared_tag_ids.append(tag_id)

    def unshare_tag(self, tag_id: str, actor: str, occurred_at: datetime) -> None:
        """Drop a revoked tag from the index."""
        if tag_id in self.shared_tag_ids:
            self._unshare_tag(tag_id, actor, occurred_at)

    @event(TagUnshared)
    def _unshare_tag(self, tag_id: str, actor: str, occurred_at: datetime) -> None:
        self.shared_tag_ids.remove(tag_id)
