"""What the attribution projection last committed, kept in memory for its next batches.

A live batch of ~100 conversions spent most of its store round trips reading back what the same
worker had written moments before: the members' facts, their member ids, the actions and the
campaigns (issue 3: end-to-end p95 under 250 ms). `ProjectionCache` keeps them, and
`CachedSession` answers a batch's reads from it, reading through to the store only for what it
does not hold, remembering what it read there.

It is trusted only while nobody else wrote the read model: every change to it commits together
with new tracking positions (ADR 0007), so a batch whose locked positions are exactly the ones
this process last committed sees the state the cache describes. Any other positions (another
worker, a pipelined catch-up, a parked event, a rebuild) and the cache is dropped; so is it
when a batch fails, since what it remembered during the batch may not have been committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TypeVar

from projections.attribution.members import KnownMembers
from projections.attribution.records import (
    ActionState,
    AttributionChanges,
    AttributionSession,
    CampaignState,
    MemberFacts,
)

T = TypeVar("T")

DEFAULT_LIMIT = 20_000  # members; ~3 KB each with a handful of facts, ~60 MB in all


class ProjectionCache:
    """Members (all their facts), actions and campaigns as of the positions last committed."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.positions: dict[str, int] | None = None
        self.members = KnownMembers(limit)
        self.actions: dict[str, ActionState] = {}
        self.campaigns: dict[str, CampaignState] = {}

    @property
    def limit(self) -> int:
        """How many members are kept at most."""
        return self.members.limit

    @limit.setter
    def limit(self, members: int) -> None:
        self.members.limit = members

    def session(self, inner: AttributionSession, positions: Mapping[str, int]) -> CachedSession:
        """The batch's reads: from memory if these positions are the last committed ones."""
        if self.positions != dict(positions):
            self.forget()
        return CachedSession(inner, self)

    def forget(self) -> None:
        """Drop everything (someone else wrote, or a batch failed)."""
        self.positions = None
        self.members.clear()
        self.actions.clear()
        self.campaigns.clear()

    def committed(self, session: CachedSession, changes: AttributionChanges,
                  positions: Mapping[str, int]) -> None:
        """The batch read through `session` committed `changes` at `positions`."""
        for facts in session.loaded.values():
            self.members.remember(facts)  # as they were before the batch, which comes next
        self.members.learn(changes)
        self.actions.update(session.loaded_actions)
        self.actions.update(changes.actions)
        self.campaigns.update(session.loaded_campaigns)
        self.campaigns.update(changes.campaigns)
        self.positions = dict(positions)


class CachedSession(AttributionSession):
    """A batch session whose reads come from the cache where it can answer them."""

    def __init__(self, inner: AttributionSession, cache: ProjectionCache) -> None:
        self.inner = inner
        self.cache = cache
        # What this batch read from the store: remembered only once the batch committed.
        self.loaded: dict[str, MemberFacts] = {}
        self.loaded_actions: dict[str, ActionState] = {}
        self.loaded_campaigns: dict[str, CampaignState] = {}

    def positions(self) -> dict[str, int]:
        return self.inner.positions()

    def get_actions(self, action_ids: Iterable[str]) -> dict[str, ActionState]:
        return _read_through(self.cache.actions, self.loaded_actions, action_ids,
                             self.inner.get_actions)

    def get_campaigns(self, campaign_ids: Iterable[str]) -> dict[str, CampaignState]:
        return _read_through(self.cache.campaigns, self.loaded_campaigns, campaign_ids,
                             self.inner.get_campaigns)

    def get_member_ids(self, timeline_ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        missing = []
        for timeline_id in timeline_ids:
            member_id = self.cache.members.member_id(timeline_id)
            if member_id is not None:
                found[timeline_id] = member_id
            else:
                missing.append(timeline_id)
        if missing:
            found.update(self.inner.get_member_ids(missing))
        return found

    def list_timelines_touching(self, since: Mapping[str, datetime | None]) -> set[str]:
        return self.inner.list_timelines_touching(since)

    def list_pending_timelines(self, action_ids: Iterable[str]) -> set[str]:
        return self.inner.list_pending_timelines(action_ids)

    def load_facts(self, timeline_ids: Iterable[str], *, with_conversions_only: bool = False
                   ) -> dict[str, MemberFacts]:
        found: dict[str, MemberFacts] = {}
        missing = []
        for timeline_id in timeline_ids:
            if timeline_id in self.cache.members:
                facts = self.cache.members.facts(timeline_id)
                if facts.conversions or not with_conversions_only:
                    found[timeline_id] = facts
            else:
                missing.append(timeline_id)
        if missing:
            read = self.inner.load_facts(missing, with_conversions_only=with_conversions_only)
            for timeline_id, facts in read.items():
                # A copy: the batch may build on the lists it was given.
                self.loaded[timeline_id] = MemberFacts(timeline_id, list(facts.touches),
                                                       list(facts.conversions))
            found.update(read)
        return found

    def save(self, changes: AttributionChanges, positions: Mapping[str, int]) -> None:
        self.inner.save(changes, positions)


def _read_through(cached: Mapping[str, T], loaded: dict[str, T], ids: Iterable[str],
                  read: Callable[[list[str]], dict[str, T]]) -> dict[str, T]:
    """The cached entries among `ids`, the others read (and noted in `loaded`)."""
    found: dict[str, T] = {}
    missing: list[str] = []
    for key in ids:
        value = cached.get(key)
        if value is None:
            missing.append(key)
        else:
            found[key] = value
    if missing:
        fetched = read(missing)
        loaded.update(fetched)
        found.update(fetched)
    return found
