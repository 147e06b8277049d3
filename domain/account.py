"""The Account aggregate: an advertiser, its API keys and the things it owns or was shown."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

# At most this many live keys per account: enough to rotate keys and give each server its own,
# and every request compares its key with each of them (ADR 0022).
MAX_KEYS = 10


def hash_api_key(api_key: str) -> str:
    """SHA-256 of the key: keys are 256-bit random, so a slow KDF would add nothing (ADR 0005)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def first_key_id(account_id: UUID | str) -> str:
    """The id of the key an account created before keys had ids was made with (ADR 0022).

    Derived from the account id alone, so it is the same on every read, from the store or NATS.
    """
    return str(uuid5(UUID(str(account_id)), "convtrack:first-key"))


class AccountError(Exception):
    """Base of the Account guards' errors."""


class KeyNotFound(AccountError):
    """The key is not one of the account's live keys (never created, or revoked)."""


class LastKey(AccountError):
    """Revoking the account's only live key would lock it out for good."""


class TooManyKeys(AccountError):
    """The account holds MAX_KEYS live keys already."""


class Account(Aggregate):
    """An advertiser account.

    Invariants: it always holds at least one live key, and at most MAX_KEYS; a key is known by
    its id, and its secret is never held (the hash of a key made since ADR 0022 is kept beside
    the events, not in them); a disabled account keeps its keys, but none of them is accepted.
    `tag_ids` and `campaign_ids` list what the account created, `shared_tag_ids` the tags other
    accounts granted it (an index kept in step with `InsightTag` grants, saved in the same
    transaction).
    """

    TOPIC = "convtrack:Account"

    class Event(Aggregate.Event):
        actor: str
        occurred_at: datetime

    class Created(Event, Aggregate.Created):
        TOPIC = "convtrack:Account.Created"
        class_version = 2
        name: str
        key_id: str  # the key the account is created with
        # Version 1 recorded the creation key's hash here; version 2 records None and keeps
        # the hash beside the events (ADR 0022). The relay publishes it as null.
        api_key_hash: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 had no key ids: its one key gets the id derived from the account id."""
            state["key_id"] = first_key_id(state["originator_id"])

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

    class KeyCreated(Event):
        TOPIC = "convtrack:Account.KeyCreated"
        key_id: str

    class KeyRevoked(Event):
        TOPIC = "convtrack:Account.KeyRevoked"
        key_id: str

    class Disabled(Event):
        TOPIC = "convtrack:Account.Disabled"

    class Enabled(Event):
        TOPIC = "convtrack:Account.Enabled"

    @event(Created)
    def __init__(
        self, id: UUID, name: str, key_id: str, actor: str, occurred_at: datetime,
        api_key_hash: str | None = None,
    ) -> None:
        self.name = name
        self.keys: dict[str, datetime] = {key_id: occurred_at}  # live key id → created at
        # Hashes the events themselves hold: only a v1 account's creation key.
        self.recorded_key_hashes: dict[str, str] = {key_id: api_key_hash} if api_key_hash else {}
        self.disabled = False
        self.tag_ids: list[str] = []
        self.campaign_ids: list[str] = []
        self.shared_tag_ids: list[str] = []

    @property
    def status(self) -> str:
        """`active` or `disabled`."""
        return "disabled" if self.disabled else "active"

    def check_can_create_key(self) -> None:
        """Raise TooManyKeys when the account holds MAX_KEYS live keys."""
        if len(self.keys) >= MAX_KEYS:
            raise TooManyKeys(f"an account holds at most {MAX_KEYS} keys; revoke one first")

    def create_key(self, key_id: str, actor: str, occurred_at: datetime) -> None:
        """A new live key, known by its id (its hash is saved beside the event)."""
        self.check_can_create_key()
        if key_id in self.keys or key_id in self.recorded_key_hashes:
            raise ValueError(f"key id {key_id!r} is taken")  # ids are random: a bug, not input
        self._create_key(key_id, actor, occurred_at)

    @event(KeyCreated)
    def _create_key(self, key_id: str, actor: str, occurred_at: datetime) -> None:
        self.keys[key_id] = occurred_at

    def check_can_revoke_key(self, key_id: str) -> None:
        """Raise KeyNotFound for a key that is not live, LastKey for the only live one."""
        if key_id not in self.keys:
            raise KeyNotFound(f"no key {key_id!r}")
        if len(self.keys) == 1:
            raise LastKey("this is the account's last key: create another before revoking it")

    def revoke_key(self, key_id: str, actor: str, occurred_at: datetime) -> None:
        """The key is refused from the next request on."""
        self.check_can_revoke_key(key_id)
        self._revoke_key(key_id, actor, occurred_at)

    @event(KeyRevoked)
    def _revoke_key(self, key_id: str, actor: str, occurred_at: datetime) -> None:
        del self.keys[key_id]

    def disable(self, actor: str, occurred_at: datetime) -> None:
        """Refuse all the account's keys; disabling a disabled account records nothing."""
        if not self.disabled:
            self._disable(actor, occurred_at)

    @event(Disabled)
    def _disable(self, actor: str, occurred_at: datetime) -> None:
        self.disabled = True

    def enable(self, actor: str, occurred_at: datetime) -> None:
        """Accept the account's keys again; enabling an active account records nothing."""
        if self.disabled:
            self._enable(actor, occurred_at)

    @event(Enabled)
    def _enable(self, actor: str, occurred_at: datetime) -> None:
        self.disabled = False

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


# Event fields that hold secrets, by topic: the relay publishes them as null and the audit trail
# leaves them out (ADR 0022). Today only v1 creation events hold one, the creation key's hash.
SECRET_FIELDS: dict[str, frozenset[str]] = {
    Account.Created.TOPIC: frozenset({"api_key_hash"}),
}
