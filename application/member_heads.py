"""Where this process left each member's timeline, so a batch resumes it without reading its
head again (ADR 0034).

Ingestion resumes a timeline from its head: its id, last version and last consent change, read
for a whole batch in one query (ADR 0004). For a member this process recorded facts about, the
head is what it committed last, unless another writer (another process, or an erasure or consent
change) appended to the timeline since. That is always found out: recording a fact appends the
next version, which the event table's primary key (originator_id, originator_version) refuses
if another writer took it, so the batch fails with IntegrityError and is retried from heads
read afresh (ADR 0004). So a kept head is used only where the batch appends to the timeline:
for members who had not opted out (a batch records nothing for an opted-out member, and would
never hear that they opted in since), and only when recording facts (an opt-in appends nothing
when the kept head says the member is in). A batch that fails, however, forgets its members:
whether it committed is then unknown, and a head kept ahead of the store could let a later
batch skip a version.

Entries are (timeline id as an int, version): no object the garbage collector tracks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID

from domain.member_timeline import MemberTimeline


class HeadCache:
    """The last committed head of the timelines this process recorded facts on, by member."""

    MAX_KEPT = 200_000  # members (~200 bytes each); all are forgotten at once past this

    def __init__(self) -> None:
        self._heads: dict[str, tuple[int, int]] = {}

    def find(self, member_id: str) -> tuple[UUID, int] | None:
        """The member's timeline id and last version as this process committed them."""
        head = self._heads.get(member_id)
        return None if head is None else (UUID(int=head[0]), head[1])

    def remember(self, timelines: Mapping[str, MemberTimeline]) -> None:
        """Heads just committed; an opted-out or erased member's is not kept (see above)."""
        heads = self._heads
        if len(heads) + len(timelines) > self.MAX_KEPT:
            heads.clear()
        for member_id, timeline in timelines.items():
            if timeline.opted_out or timeline.erased:
                heads.pop(member_id, None)
            else:
                heads[member_id] = (timeline.id.int, timeline.version)

    def forget(self, member_ids: Iterable[str]) -> None:
        """Read these members' heads from the store next time."""
        for member_id in member_ids:
            self._heads.pop(member_id, None)
