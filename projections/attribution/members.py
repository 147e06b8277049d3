"""Members whose every fact the attribution projection knows, kept in memory.

Two ways a member's facts become known exactly, so that later batches need not read them back:
- its timeline was created in a batch this process computed: nothing about a member precedes its
  creation in the ingestion log, so the batches' changes from then on are all its facts (the
  pipelined catch-up, adapters/read_side/pipelined_catch_up.py; in a rebuild that saved a third of
  the PostgreSQL reads and ~3 µs of Python per event);
- its facts were read whole from the store, and every later change learnt (the live cache,
  projections/attribution/cache.py).
Either way this is true only while the holder is the projection's one writer, which both check.
Bounded: the oldest members are forgotten first, and a forgotten member is read from the store
again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.attribution import Touch
from domain.member_timeline import ERASED
from projections.attribution.records import (
    AttributionChanges,
    ConversionRecord,
    MemberFacts,
    erased_conversion,
    erased_touch,
)

DEFAULT_LIMIT = 50_000  # members; ~3 KB each with a handful of facts


@dataclass
class _Known:
    member_id: str | None  # None when read from the store without a conversion to name it
    touches: list[Touch] = field(default_factory=list)
    conversions: dict[tuple[str, str], ConversionRecord] = field(default_factory=dict)


class KnownMembers:
    """Members with all their facts: created by the batches learnt, or remembered whole."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = DEFAULT_LIMIT if limit is None else limit
        self._known: dict[str, _Known] = {}

    def __contains__(self, timeline_id: object) -> bool:
        return timeline_id in self._known

    def __len__(self) -> int:
        return len(self._known)

    def learn(self, changes: AttributionChanges) -> None:
        """Take in one computed batch: its new members, and new facts of known ones."""
        known = self._known
        for timeline_id, member_id in changes.members.items():
            self._add(timeline_id, _Known(member_id))
        for timeline_id, touch in changes.touches:
            entry = known.get(timeline_id)
            if entry is not None:
                entry.touches.append(touch)
        for record in (*changes.new_conversions, *changes.changed_conversions):
            entry = known.get(record.timeline_id)
            if entry is not None:
                entry.conversions[record.key] = record
                entry.member_id = record.member_id
        for timeline_id in changes.erased:  # as the store blanks them (ADR 0027)
            entry = known.get(timeline_id)
            if entry is not None:
                entry.member_id = ERASED
                entry.touches = [erased_touch(t) for t in entry.touches]
                entry.conversions = {k: erased_conversion(c)
                                     for k, c in entry.conversions.items()}

    def remember(self, facts: MemberFacts) -> None:
        """A member's facts as read whole from the store (taking ownership of the lists)."""
        if facts.timeline_id in self._known:
            return
        member_ids = {c.member_id for c in facts.conversions}
        self._add(facts.timeline_id, _Known(member_ids.pop() if len(member_ids) == 1 else None,
                                            facts.touches,
                                            {c.key: c for c in facts.conversions}))

    def _add(self, timeline_id: str, entry: _Known) -> None:
        if len(self._known) >= self.limit:
            del self._known[next(iter(self._known))]  # the oldest first
        self._known[timeline_id] = entry

    def member_id(self, timeline_id: str) -> str | None:
        """The member id of a known timeline, if known."""
        entry = self._known.get(timeline_id)
        return None if entry is None else entry.member_id

    def facts(self, timeline_id: str) -> MemberFacts:
        """A known member's facts, as the store would return them (fresh lists)."""
        entry = self._known[timeline_id]
        return MemberFacts(timeline_id, list(entry.touches), list(entry.conversions.values()))

    def clear(self) -> None:
        """Forget every member."""
        self._known.clear()
