"""The audit trail: every management event as a row, with who did it and whose it is.

Each row carries the account the aggregate belongs to and, for tags and their actions, the tag,
so the read API can show an account the audit of its own aggregates and of the tags it can see
(docs/api.md: viewers read the tag's audit). Secrets never enter the trail (the API key's hash).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from domain.account import SECRET_FIELDS, Account
from domain.campaign import Campaign
from domain.conversion_action import ConversionAction
from domain.insight_tag import InsightTag
from projections.base import Envelope, ParkedEvent
from projections.tracking import TrackedView, advanced, unseen

log = logging.getLogger("convtrack.projections")

_BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "actor", "occurred_at"}
# Left out by name, whatever the event: the same fields the relay publishes as null, so a row
# is the same whether its event came from NATS or the store (ADR 0022).
_SECRET_FIELDS: frozenset[str] = frozenset().union(*SECRET_FIELDS.values())


@dataclass(frozen=True, slots=True)
class AuditScope:
    """Whose an aggregate is: its account, and its tag for tags and actions."""

    account_id: str | None
    tag_id: str | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One management event in the trail."""

    position: int
    aggregate_id: str
    type: str  # e.g. "Campaign.StatusChanged"
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    data: dict[str, Any]
    scope: AuditScope


@dataclass(frozen=True)
class AuditFilter:
    """GET /v1/audit's filters; `account_ids` / `tag_ids` are the caller's ACL scope."""

    account_ids: frozenset[str]
    tag_ids: frozenset[str]
    aggregate_id: str | None = None
    account_id: str | None = None
    occurred_from: datetime | None = None
    occurred_before: datetime | None = None
    after_position: int = 0
    limit: int = 100

    def matches(self, record: AuditRecord) -> bool:
        """Whether a record passes the filter (the in-memory store's WHERE)."""
        scope = record.scope
        visible = scope.account_id in self.account_ids or scope.tag_id in self.tag_ids
        return visible and all((
            self.aggregate_id is None or record.aggregate_id == self.aggregate_id,
            self.account_id is None or scope.account_id == self.account_id,
            self.occurred_from is None or record.occurred_at >= self.occurred_from,
            self.occurred_before is None or record.occurred_at < self.occurred_before,
            record.position > self.after_position,
        ))


@dataclass
class AuditChanges:
    """What one batch writes."""

    records: list[AuditRecord] = field(default_factory=list)
    scopes: dict[str, AuditScope] = field(default_factory=dict)


class AuditSession(ABC):
    """One batch's transaction over the audit store, holding its tracking rows."""

    @abstractmethod
    def positions(self) -> dict[str, int]:
        """The tracked positions, locked until the session ends."""

    @abstractmethod
    def get_scopes(self, aggregate_ids: Iterable[str]) -> dict[str, AuditScope]:
        """The known scopes among these aggregates."""

    @abstractmethod
    def save(self, changes: AuditChanges, positions: Mapping[str, int]) -> None:
        """Write the rows and the new positions; committed when the session ends."""


class AuditView(TrackedView):
    """A store of the audit trail."""

    @abstractmethod
    def session(self) -> AbstractContextManager[AuditSession]:
        """A batch session: commits when the block ends normally, rolls back on error."""

    @abstractmethod
    def list_audit(self, query: AuditFilter) -> list[AuditRecord]:
        """Matching rows in position order."""


class AuditProjection:
    """Management events → the audit trail."""

    name = "audit"
    version = 1

    def __init__(self, view: AuditView) -> None:
        self.view = view

    def tracked_positions(self) -> dict[str, int]:
        """The last position applied per source application."""
        return self.view.tracked_positions()

    def process_batch(self, batch: Sequence[Envelope]) -> None:
        """Append a row per new management event and advance tracking, in one transaction."""
        with self.view.session() as session:
            positions = session.positions()
            fresh = unseen(positions, batch)
            if not fresh:
                return
            events = [e for e in fresh if e.application == "management"]
            ids = {str(e.event.originator_id) for e in events}
            tag_ids = {e.event.tag_id for e in events
                       if isinstance(e.event, ConversionAction.Created)}
            scopes = session.get_scopes(ids | tag_ids)
            changes = AuditChanges()
            for envelope in events:
                changes.records.append(self._record(envelope, scopes, changes))
            session.save(changes, advanced(positions, fresh))

    def _record(self, envelope: Envelope, scopes: dict[str, AuditScope],
                changes: AuditChanges) -> AuditRecord:
        event: Any = envelope.event
        aggregate_id = str(event.originator_id)
        scope = _scope_at_creation(event, scopes)
        if scope is not None:
            scopes[aggregate_id] = changes.scopes[aggregate_id] = scope
        else:
            scope = scopes.get(aggregate_id) or AuditScope(None, None)
        return AuditRecord(
            position=envelope.position, aggregate_id=aggregate_id,
            type=envelope.topic.removeprefix("convtrack:"), occurred_at=event.occurred_at,
            recorded_at=event.timestamp, actor=event.actor, data=audit_data(event), scope=scope)

    def park(self, envelope: Envelope, error: str, attempts: int) -> None:
        """Set a failing event aside and move past it."""
        log.warning("parked", extra={"projection": self.name, "application": envelope.application,
                                     "position": envelope.position, "error": error})
        self.view.park(self.name, envelope, error, attempts)

    def list_parked(self) -> list[ParkedEvent]:
        """The parked events, oldest first."""
        return self.view.list_parked(self.name)


def _scope_at_creation(event: Any, scopes: dict[str, AuditScope]) -> AuditScope | None:
    """The scope a Created event establishes; None for any other event."""
    if isinstance(event, Account.Created):
        return AuditScope(str(event.originator_id), None)
    if isinstance(event, InsightTag.Created):
        return AuditScope(event.owner_account_id, str(event.originator_id))
    if isinstance(event, Campaign.Created):
        return AuditScope(event.owner_account_id, None)
    if isinstance(event, ConversionAction.Created):
        tag = scopes.get(event.tag_id)
        return AuditScope(tag.account_id if tag else None, event.tag_id)
    return None


def audit_data(event: Any) -> dict[str, Any]:
    """The event's own fields as JSON-safe data, secrets left out."""
    return {k: _plain(v) for k, v in vars(event).items()
            if k not in _BASE_FIELDS and k not in _SECRET_FIELDS}


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value
