"""Accounts as they were recorded before keys had ids (ADR 0022): a version 1 creation event
holding the hash of the account's one key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent

from application.accounts import new_api_key
from domain.account import hash_api_key


def record_v1_account(app: Any, name: str, at: datetime | None = None) -> tuple[UUID, str]:
    """Store an account exactly as the code before ADR 0022 did; its id and API key."""
    account_id = uuid4()
    api_key = new_api_key(account_id)
    at = at or datetime.now(UTC)
    state = {"timestamp": at, "originator_topic": "convtrack:Account", "actor": "admin",
             "occurred_at": at, "name": name, "api_key_hash": hash_api_key(api_key)}
    app.recorder.insert_events([StoredEvent(
        originator_id=account_id, originator_version=1, topic="convtrack:Account.Created",
        state=app.mapper.transcoder.encode(state))])
    return account_id, api_key
