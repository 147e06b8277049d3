"""Account commands: creation (admin only) and API-key authentication."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from uuid import uuid4

from application.access import Caller
from application.errors import Forbidden, NotAuthenticated
from application.management_base import ManagementBase, parse_id
from domain.account import Account, hash_api_key
from domain.validation import check_text

KEY_PREFIX = "ct_"


@dataclass(frozen=True)
class NewAccount:
    """A created account and its API key, which is shown this once and never stored."""

    account: Account
    api_key: str


class AccountCommands(ManagementBase):
    """Creating accounts and recognising their keys."""

    def create_account(self, caller: Caller, name: str) -> NewAccount:
        """Create an account with a fresh random API key (admin only)."""
        if not caller.is_admin:
            raise Forbidden("only the admin token may create accounts")
        name = check_text(name, "name")
        secret = secrets.token_urlsafe(32)
        # The key embeds the account id so it can be checked without an index (ADR 0005).
        account_id = uuid4()
        api_key = f"{KEY_PREFIX}{account_id.hex}_{secret}"
        account = Account(id=account_id, name=name, api_key_hash=hash_api_key(api_key),
                          actor=caller.actor, occurred_at=self.clock())
        self.save(account)
        return NewAccount(account=account, api_key=api_key)

    def authenticate(self, api_key: str) -> Caller:
        """The account whose key this is, or NotAuthenticated."""
        account_hex, _, secret = api_key.removeprefix(KEY_PREFIX).partition("_")
        uuid = parse_id(account_hex) if api_key.startswith(KEY_PREFIX) and secret else None
        account = self._find(Account, str(uuid)) if uuid else None
        if account is None or not account.key_matches(api_key):
            raise NotAuthenticated("unknown API key")
        return Caller.account(str(account.id))
