"""Authentication: `Authorization: Bearer <api key | admin token>` → a Caller."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request

from application.access import Caller
from application.errors import Forbidden, NotAuthenticated
from application.management import ManagementApp


class Authenticator:
    """The `caller` dependency: the admin token, or an account's API key."""

    def __init__(self, admin_token: str, management: ManagementApp) -> None:
        self.admin_token = admin_token.encode()
        self.management = management

    def __call__(self, request: Request[Any, Any, Any]) -> Caller:
        """Who is calling; 401 when the header is missing or names nothing."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("send Authorization: Bearer <api key>")
        token = token.strip()
        if hmac.compare_digest(token.encode(), self.admin_token):
            return Caller.admin()
        return self.management.authenticate(token)


def require_admin(caller: Caller) -> None:
    """Calls of the operator / ad platform only."""
    if not caller.is_admin:
        raise Forbidden("this call needs the admin token")


def require_account(caller: Caller) -> None:
    """Calls made for an advertiser account (docs/api.md: `POST /v1/conversions`)."""
    if caller.account_id is None:
        # docs/api.md lists what the admin token may do (create accounts, send touches);
        # sending conversions is not among it: they belong to a tag, and the operator owns none.
        raise Forbidden("this call needs an account's API key, not the admin token")
