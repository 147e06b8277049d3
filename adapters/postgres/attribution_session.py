"""One attribution batch's transaction in PostgreSQL: the reads a batch makes, and its save.

A writing session holds the projection's tracking rows locked from its first statement to its
commit (ADR 0007); a reading one (pipelined catch-up, ADR 0014) locks nothing and cannot save.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from psycopg import Connection
from psycopg.sql import Composed

from adapters.postgres.attribution_codec import RowDecoder
from projections.attribution.records import (
    ActionState,
    AttributionChanges,
    AttributionSession,
    CampaignState,
    MemberFacts,
)

_UUID_LIST = re.compile(r"[0-9a-fA-F,-]*")


def uuid_array(ids: list[str]) -> str | list[str]:
    """A uuid[] parameter: the array literal when every id is plain hex and dashes (psycopg's
    list dumping costs ~4 µs an event in a 1,000-event batch), else the list itself."""
    text = ",".join(ids)
    return "{" + text + "}" if _UUID_LIST.fullmatch(text) else ids


class AttributionTables(Protocol):
    """What a session asks of its store (adapters/postgres/attribution_store.py): the tables'
    SQL, the tracking rows, and the reads and writes one batch makes."""

    def sql(self, query: str) -> Composed: ...

    def lock_positions(self, conn: Connection[Any]) -> dict[str, int]: ...

    def read_positions(self, conn: Connection[Any]) -> dict[str, int]: ...

    def save_positions(self, conn: Connection[Any], positions: Mapping[str, int]) -> None: ...

    def fetch_actions(self, conn: Connection[Any], action_ids: Iterable[str]
                      ) -> dict[str, ActionState]: ...

    def fetch_campaigns(self, conn: Connection[Any], campaign_ids: Iterable[str]
                        ) -> dict[str, CampaignState]: ...

    def fetch_facts(self, conn: Connection[Any], timeline_ids: list[str], decoder: RowDecoder,
                    *, with_conversions_only: bool = False) -> dict[str, MemberFacts]: ...

    def write(self, conn: Connection[Any], changes: AttributionChanges) -> None: ...


class PostgresAttributionSession(AttributionSession):
    """A batch's reads and save on one connection, inside the caller's transaction."""

    def __init__(self, store: AttributionTables, conn: Connection, *,
                 lock: bool = True) -> None:
        self.store = store
        self.conn = conn
        self.decoder = RowDecoder()
        self.writable = lock
        # A writer locks the tracking rows first thing; a reader reads them only when asked
        # (the pipeline knows the positions it computes from).
        self._positions = store.lock_positions(conn) if lock else None

    def _rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self.conn.execute(self.store.sql(query), params, prepare=False).fetchall()

    def positions(self) -> dict[str, int]:
        if self._positions is None:
            return self.store.read_positions(self.conn)
        return dict(self._positions)

    def get_actions(self, action_ids: Iterable[str]) -> dict[str, ActionState]:
        return self.store.fetch_actions(self.conn, action_ids)

    def get_campaigns(self, campaign_ids: Iterable[str]) -> dict[str, CampaignState]:
        return self.store.fetch_campaigns(self.conn, campaign_ids)

    def get_member_ids(self, timeline_ids: Iterable[str]) -> dict[str, str]:
        ids = list(timeline_ids)
        if not ids:
            return {}
        rows = self._rows("SELECT timeline_id::text, member_id FROM {members} "
                          "WHERE timeline_id = ANY(%s::uuid[])", (uuid_array(ids),))
        return {str(t): str(m) for t, m in rows}

    def list_timelines_touching(self, since: Mapping[str, datetime | None]) -> set[str]:
        rows = self._rows(
            "SELECT DISTINCT t.timeline_id::text FROM {touches} t "
            "JOIN unnest(%s::text[], %s::timestamptz[]) AS c(campaign_id, since) "
            "ON t.campaign_id = c.campaign_id AND (c.since IS NULL OR t.occurred_at >= c.since)",
            (list(since), list(since.values())))
        return {row[0] for row in rows}

    def list_pending_timelines(self, action_ids: Iterable[str]) -> set[str]:
        rows = self._rows("SELECT DISTINCT timeline_id::text FROM {conversions} "
                          "WHERE rules IS NULL AND action_id = ANY(%s)", (list(action_ids),))
        return {row[0] for row in rows}

    def load_facts(self, timeline_ids: Iterable[str], *, with_conversions_only: bool = False
                   ) -> dict[str, MemberFacts]:
        return self.store.fetch_facts(self.conn, list(timeline_ids), self.decoder,
                                      with_conversions_only=with_conversions_only)

    def save(self, changes: AttributionChanges, positions: Mapping[str, int]) -> None:
        if not self.writable:
            raise RuntimeError("a reader session cannot save")
        self.store.write(self.conn, changes)
        self.store.save_positions(self.conn, positions)
