"""Authentication: `Authorization: Bearer <api key | admin token>` → a Caller."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request
from litestar.datastructures import State

from adapters.bootstrap import Container
from application.access import Caller
from application.errors import Forbidden, NotAuthenticated


def container_of(state: State) -> Container:
    """The composition root, kept in the app's state."""
    container: Container = state.container
    return container


def provide_container(state: State) -> Container:
    return container_of(state)


def provide_caller(request: Request[Any, Any, Any], state: State) -> Caller:
    """Who is calling; 401 when the header is missing or names nothing."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send Authorization: Bearer <api key>")
    token = token.strip()
    container = container_of(state)
    if hmac.compare_digest(token.encode(), container.admin_token.encode()):
        return Caller.admin()
    return container.management.authenticate(token)


def require_admin(caller: Caller) -> None:
    """Calls of the operator / ad platform only."""
    if not caller.is_admin:
        raise Forbidden("this call needs the admin token")


def require_account(caller: Caller) -> None:
    """Calls made for an advertiser account (API.md: `POST /v1/conversions` (account))."""
    if caller.account_id is None:
        # API.md lists what the admin token may do (create accounts, send touches); sending
        # conversions is not among it: they belong to a tag, and the operator owns none.
        raise Forbidden("this call needs an account's API key, not the admin token")
