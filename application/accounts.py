"""Account commands: creation, API keys, disabling (admin), and API-key authentication."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import UUID, uuid4

from eventsourcing.popo import POPOFactory

from application.access import Caller
from application.account_keys import InMemoryManagementRecorder, KeyHash, KeyRecorder
from application.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from application.management_base import (
    Clock,
    ManagementBase,
    parse_id,
    retried_on_conflict,
    utc_now,
)
from domain.account import Account, KeyNotFound, LastKey, TooManyKeys, hash_api_key
from domain.validation import check_text

KEY_PREFIX = "ct_"


@dataclass(frozen=True)
class NewAccount:
    """A created account and its API key, which is shown this once and never stored."""

    account: Account
    api_key: str


@dataclass(frozen=True)
class NewKey:
    """A created key: its secret is shown this once and never stored."""

    key_id: str
    api_key: str
    created_at: datetime


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a live key: never its secret or hash."""

    key_id: str
    created_at: datetime
    last_used_day: date | None


def new_api_key(account_id: UUID) -> str:
    """A fresh random key that names its account, so it is checked without an index (ADR 0005)."""
    return f"{KEY_PREFIX}{account_id.hex}_{secrets.token_urlsafe(32)}"


class AccountCommands(ManagementBase):
    """Creating accounts, managing their keys, and recognising the keys."""

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env, clock)
        # Per process, both only ever grow by facts that never change: a key id's hash, and
        # the last day this process recorded a key's use. They keep authentication at one
        # indexed query (the account's fast-forward) per request (ADR 0022).
        self._key_hashes: dict[str, str] = {}
        self._use_recorded: dict[str, date] = {}

    def construct_recorder(self) -> Any:
        """The event recorder must also keep key hashes and key use (in memory or PostgreSQL)."""
        if isinstance(self.factory, POPOFactory):
            return InMemoryManagementRecorder()
        recorder = super().construct_recorder()
        for method in ("select_key_hashes", "record_key_use", "select_key_use"):
            if not hasattr(recorder, method):
                raise TypeError(f"{type(recorder).__name__} cannot keep API key hashes")
        return recorder

    @property
    def keys_recorder(self) -> KeyRecorder:
        """The recorder, seen as the keeper of key hashes and key use."""
        return cast(KeyRecorder, self.recorder)

    def create_account(self, caller: Caller, name: str) -> NewAccount:
        """Create an account with a fresh random API key (admin only)."""
        if not caller.is_admin:
            raise Forbidden("only the admin token may create accounts")
        name = check_text(name, "name")
        account_id = uuid4()
        api_key = new_api_key(account_id)
        key_id = str(uuid4())
        account = Account(id=account_id, name=name, key_id=key_id, actor=caller.actor,
                          occurred_at=self.clock())
        self.save(account, key_hashes=[KeyHash(key_id, account_id, hash_api_key(api_key))])
        return NewAccount(account=account, api_key=api_key)

    def get_account(self, caller: Caller, account_id: str) -> Account:
        """The account, for itself or the admin token; NotFound for any other caller."""
        # Another account gets what an unknown id gets, so ids cannot be probed (ADR 0005).
        if not caller.is_admin and caller.account_id != account_id:
            raise NotFound(f"no account {account_id!r}")
        return self._get(Account, account_id, "account")

    @retried_on_conflict
    def create_key(self, caller: Caller, account_id: str) -> NewKey:
        """Another key for the account (the account itself or admin); shown once."""
        account = self.get_account(caller, account_id)
        api_key = new_api_key(account.id)
        key_id = str(uuid4())
        now = self.clock()
        try:
            account.create_key(key_id, actor=caller.actor, occurred_at=now)
        except TooManyKeys as error:
            raise Conflict(str(error)) from None
        self.save(account, key_hashes=[KeyHash(key_id, account.id, hash_api_key(api_key))])
        return NewKey(key_id=key_id, api_key=api_key, created_at=now)

    def list_keys(self, caller: Caller, account_id: str) -> list[KeyInfo]:
        """The account's live keys, oldest first, with the day each was last used."""
        account = self.get_account(caller, account_id)
        used = self.keys_recorder.select_key_use(list(account.keys))
        return [KeyInfo(key_id, created_at, used.get(key_id))
                for key_id, created_at in sorted(account.keys.items(), key=lambda k: k[1])]

    @retried_on_conflict
    def revoke_key(self, caller: Caller, account_id: str, key_id: str) -> datetime:
        """Refuse the key from the next request on; when it was revoked."""
        account = self.get_account(caller, account_id)
        now = self.clock()
        try:
            account.revoke_key(key_id, actor=caller.actor, occurred_at=now)
        except KeyNotFound as error:
            raise NotFound(str(error)) from None
        except LastKey as error:
            raise Conflict(str(error)) from None
        self.save(account)
        return now

    @retried_on_conflict
    def disable_account(self, caller: Caller, account_id: str) -> Account:
        """Refuse every key of the account until it is enabled again (admin only)."""
        account = self._account_for_admin(caller, account_id)
        account.disable(actor=caller.actor, occurred_at=self.clock())
        self.save(account)
        return account

    @retried_on_conflict
    def enable_account(self, caller: Caller, account_id: str) -> Account:
        """Accept the account's keys again (admin only)."""
        account = self._account_for_admin(caller, account_id)
        account.enable(actor=caller.actor, occurred_at=self.clock())
        self.save(account)
        return account

    def _account_for_admin(self, caller: Caller, account_id: str) -> Account:
        if not caller.is_admin:
            raise Forbidden("this call needs the admin token")
        return self._get(Account, account_id, "account")

    def authenticate(self, api_key: str) -> Caller:
        """The account whose live key this is, or NotAuthenticated (also when it is disabled)."""
        account_hex, _, secret = api_key.removeprefix(KEY_PREFIX).partition("_")
        uuid = parse_id(account_hex) if api_key.startswith(KEY_PREFIX) and secret else None
        account = self._find(Account, str(uuid)) if uuid else None
        key_id = self._matching_key(account, api_key) if account is not None else None
        if account is None or key_id is None:
            raise NotAuthenticated("unknown API key")
        # Said only to a caller holding a live key of the account: nobody else learns it.
        if account.disabled:
            raise NotAuthenticated("the account is disabled")
        self._note_use(key_id)
        return Caller.account(str(account.id))

    def _matching_key(self, account: Account, api_key: str) -> str | None:
        """The id of the live key this is; every live key is compared, in constant time."""
        presented = hash_api_key(api_key)
        found = None
        for key_id, key_hash in self._live_key_hashes(account).items():
            if hmac.compare_digest(key_hash, presented):
                found = key_id
        return found

    def _live_key_hashes(self, account: Account) -> dict[str, str]:
        """The hashes of the account's live keys, by key id."""
        recorded, known = account.recorded_key_hashes, self._key_hashes
        if any(k not in recorded and k not in known for k in account.keys):
            # A key this process has not seen yet: one query, then never again for it.
            known.update(self.keys_recorder.select_key_hashes(account.id))
        hashes: dict[str, str] = {}
        for key_id in account.keys:
            key_hash = recorded.get(key_id) or known.get(key_id)
            if key_hash is not None:
                hashes[key_id] = key_hash
        return hashes

    def _note_use(self, key_id: str) -> None:
        """Record the key's use once a day per process, not on every request."""
        today = self.clock().astimezone(UTC).date()
        if self._use_recorded.get(key_id) != today:
            self.keys_recorder.record_key_use(key_id, today)
            self._use_recorded[key_id] = today
