"""What the management side keeps beside its events for API keys (ADR 0022).

- key hashes: one row per key, written in the transaction that records the key's creation
  (`Account.Created` or `Account.KeyCreated`) and never changed. The events say which keys are
  live; the hashes say how to recognise one, and stay out of the events so that nothing
  secret travels with them to NATS.
- last use: the UTC day each key was last used, written at most once a day per key and
  process, outside any event: authentication runs on every request, and an event per request
  would swamp the management log.

`KeyRecorder` is what the management application needs from its event recorder; the in-memory
recorder here serves the tests, the PostgreSQL one lives in adapters/postgres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder


@dataclass(frozen=True)
class KeyHash:
    """A key's hash, saved with the event that creates the key (`save(..., key_hashes=[...])`)."""

    key_id: str
    account_id: UUID
    key_hash: str


class KeyRecorder(Protocol):
    """The management event recorder: events plus key hashes, atomically; and keys' last use."""

    def select_key_hashes(self, account_id: UUID) -> dict[str, str]:
        """Every key hash of the account, by key id (revoked keys included)."""
        ...

    def record_key_use(self, key_id: str, day: date) -> None:
        """The key was used on this UTC day (an earlier day than recorded changes nothing)."""
        ...

    def select_key_use(self, key_ids: Sequence[str]) -> dict[str, date]:
        """The last day each of these keys was used, for those ever used."""
        ...


class InMemoryManagementRecorder(POPOApplicationRecorder):
    """The in-memory event recorder with key hashes and key use, for application tests."""

    def __init__(self) -> None:
        super().__init__()
        self.key_hashes: dict[str, KeyHash] = {}
        self.key_use: dict[str, date] = {}

    # Both run under the recorder's lock, between the library's checks and its writes, so the
    # hashes are recorded with the events or not at all.
    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        for key in kwargs.get("key_hashes") or ():
            if key.key_id in self.key_hashes:
                raise IntegrityError(f"key {key.key_id} exists")

    def _update_table(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        notification_ids = super()._update_table(stored_events, **kwargs)
        self.key_hashes.update({k.key_id: k for k in kwargs.get("key_hashes") or ()})
        return notification_ids

    def select_key_hashes(self, account_id: UUID) -> dict[str, str]:
        with self._database_lock:
            return {k.key_id: k.key_hash for k in self.key_hashes.values()
                    if k.account_id == account_id}

    def record_key_use(self, key_id: str, day: date) -> None:
        with self._database_lock:
            self.key_use[key_id] = max(day, self.key_use.get(key_id, day))

    def select_key_use(self, key_ids: Sequence[str]) -> dict[str, date]:
        with self._database_lock:
            return {k: self.key_use[k] for k in key_ids if k in self.key_use}
