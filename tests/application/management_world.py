"""The management tests' world: two advertisers, one of them owning a tag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from adapters.bootstrap import Container
from application.access import Caller
from application.management import ManagementApp



@dataclass
class World:
    """Two advertisers: `owner` owns a tag; `other` owns nothing yet."""

    app: ManagementApp
    owner: Caller
    other: Caller
    owner_key: str
    tag_id: str

    @property
    def owner_id(self) -> str:
        return self.owner.account_id or ""

    @property
    def other_id(self) -> str:
        return self.other.account_id or ""


@pytest.fixture
def world(container: Container, admin: Caller) -> World:
    app = container.management
    owner = app.create_account(admin, "Owner")
    other = app.create_account(admin, "Other")
    owner_caller = Caller.account(str(owner.account.id))
    tag = app.create_tag(owner_caller, "shop")
    return World(app, owner_caller, Caller.account(str(other.account.id)), owner.api_key,
                 str(tag.id))


def field_of(error: pytest.ExceptionInfo[Any]) -> str | None:
    return error.value.field  # type: ignore[no-any-return]

