"""Account endpoints: creation and status (admin token), API keys (the account or admin)."""

from __future__ import annotations

from litestar import Controller, delete, get, post

from adapters.http.presenters import status_out
from adapters.http.schemas import (
    AccountOut,
    AccountStatusOut,
    KeyList,
    KeyOut,
    NewAccountIn,
    NewKeyOut,
    RevokedKeyOut,
)
from adapters.http.strict_bodies import strict_body
from application.access import Caller
from application.management import ManagementApp


class AccountRoutes(Controller):
    """Accounts and their API keys."""

    path = "/v1/accounts"
    tags = ["accounts"]
    before_request = staticmethod(strict_body)  # docs/api.md types are JSON types: not coerced

    @post("/", sync_to_thread=True, summary="Create an account; its API key is shown once")
    def create(self, data: NewAccountIn, caller: Caller, management: ManagementApp) -> AccountOut:
        new = management.create_account(caller, data.name)
        return AccountOut(account_id=str(new.account.id), name=new.account.name,
                          api_key=new.api_key)

    @post("/{account_id:str}/keys", sync_to_thread=True,
          summary="Create another API key for the account; its secret is shown once")
    def create_key(self, account_id: str, caller: Caller, management: ManagementApp
                   ) -> NewKeyOut:
        new = management.create_key(caller, account_id)
        return NewKeyOut(key_id=new.key_id, api_key=new.api_key, created_at=new.created_at)

    @get("/{account_id:str}/keys", sync_to_thread=True,
         summary="List the account's live API keys and the day each was last used")
    def list_keys(self, account_id: str, caller: Caller, management: ManagementApp) -> KeyList:
        keys = management.list_keys(caller, account_id)
        return KeyList(items=[KeyOut(k.key_id, k.created_at, k.last_used_day) for k in keys])

    @delete("/{account_id:str}/keys/{key_id:str}", sync_to_thread=True, status_code=200,
            summary="Revoke an API key (never the account's last one)")
    def revoke_key(self, account_id: str, key_id: str, caller: Caller,
                   management: ManagementApp) -> RevokedKeyOut:
        revoked_at = management.revoke_key(caller, account_id, key_id)
        return RevokedKeyOut(key_id=key_id, revoked_at=revoked_at)

    @post("/{account_id:str}/disable", sync_to_thread=True, status_code=200,
          summary="Disable the account: its keys are refused (admin token)")
    def disable(self, account_id: str, caller: Caller, management: ManagementApp
                ) -> AccountStatusOut:
        return status_out(management.disable_account(caller, account_id))

    @post("/{account_id:str}/enable", sync_to_thread=True, status_code=200,
          summary="Enable the account again: its keys are accepted (admin token)")
    def enable(self, account_id: str, caller: Caller, management: ManagementApp
               ) -> AccountStatusOut:
        return status_out(management.enable_account(caller, account_id))
