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
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from domain.attribution import Touch
from projections.attribution_view import (
    ActionState,
    AttributionChanges,
    AttributionSession,
    CampaignState,
    ConversionRecord,
    MemberFacts,
)

T = TypeVar("T")

DEFAULT_LIMIT = 20_000  # members; ~3 KB each with a handful of facts, ~60 MB in all


@dataclass
class _Member:
    member_id: str | None  # None when only its facts were read (no conversion to name it)
    touches: list[Touch] = field(default_factory=list)
    conversions: dict[tuple[str, str], ConversionRecord] = field(default_factory=dict)


class ProjectionCache:
    """Members (all their facts), actions and campaigns as of the positions last committed."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.positions: dict[str, int] | None = None
        self.members: dict[str, _Member] = {}
        self.actions: dict[str, ActionState] = {}
        self.campaigns: dict[str, CampaignState] = {}

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
        for timeline_id, facts in session.loaded.items():
            self._remember(timeline_id, facts)
        self.actions.update(session.loaded_actions)
        self.campaigns.update(session.loaded_campaigns)
        for timeline_id, member_id in changes.members.items():
            self._remember(timeline_id, MemberFacts(timeline_id))
            self.members[timeline_id].member_id = member_id
        for timeline_id, touch in changes.touches:
            known = self.members.get(timeline_id)
            if known is not None:
                known.touches.append(touch)
        for record in (*changes.new_conversions, *changes.changed_conversions):
            known = self.members.get(record.timeline_id)
            if known is not None:
                known.conversions[record.key] = record
                known.member_id = record.member_id
        self.actions.update(changes.actions)
        self.campaigns.update(changes.campaigns)
        self.positions = dict(positions)

    def _remember(self, timeline_id: str, facts: MemberFacts) -> None:
        if timeline_id in self.members:
            return
        if len(self.members) >= self.limit:
            del self.members[next(iter(self.members))]  # the oldest first
        member_ids = {c.member_id for c in facts.conversions}
        self.members[timeline_id] = _Member(
            member_ids.pop() if len(member_ids) == 1 else None, list(facts.touches),
            {c.key: c for c in facts.conversions})

    def facts(self, timeline_id: str) -> MemberFacts:
        """A cached member's facts, as the store would return them (fresh lists)."""
        known = self.members[timeline_id]
        return MemberFacts(timeline_id, list(known.touches), list(known.conversions.values()))


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
            known = self.cache.members.get(timeline_id)
            if known is not None and known.member_id is not None:
                found[timeline_id] = known.member_id
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
                facts = self.cache.facts(timeline_id)
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
