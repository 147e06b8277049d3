"""Conversion action endpoints."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get, patch, post
from msgspec import UNSET

from adapters.http.presenters import action_out
from adapters.http.schemas import ActionList, ActionOut, ActionPatch, NewActionIn
from adapters.http.strict_bodies import strict_body
from application.access import Caller
from application.management import ManagementApp


def provided_fields(body: msgspec.Struct, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields a client actually sent, as plain data (UNSET ones are left out)."""
    return {name: msgspec.to_builtins(value)
            for name, value in msgspec.structs.asdict(body).items()
            if value is not UNSET and name not in skip}


class ActionRoutes(Controller):
    """Conversion actions of insight tags."""

    path = "/v1/conversion-actions"
    tags = ["conversion actions"]
    before_request = staticmethod(strict_body)  # docs/api.md types are JSON types: not coerced

    @post("/", sync_to_thread=True, summary="Define a conversion action (editor role)")
    def create_action(
        self, data: NewActionIn, caller: Caller, management: ManagementApp
    ) -> ActionOut:
        fields = provided_fields(data, skip=("tag_id",))
        return action_out(management.create_action(caller, data.tag_id, fields))

    @get("/", sync_to_thread=True, summary="List actions, of one tag or of every visible tag")
    def list_actions(
        self, caller: Caller, management: ManagementApp, tag_id: str | None = None
    ) -> ActionList:
        actions = management.list_actions(caller, tag_id)
        return ActionList(items=[action_out(a) for a in actions])

    @get("/{action_id:str}", sync_to_thread=True, summary="Get an action")
    def get_action(self, action_id: str, caller: Caller, management: ManagementApp) -> ActionOut:
        return action_out(management.get_action(caller, action_id))

    @patch("/{action_id:str}", sync_to_thread=True,
           summary="Change settings (editor role); archived actions answer 409")
    def update(
        self, action_id: str, data: ActionPatch, caller: Caller, management: ManagementApp
    ) -> ActionOut:
        action = management.update_action(caller, action_id, provided_fields(data))
        return action_out(action)

    @post("/{action_id:str}/archive", sync_to_thread=True, status_code=200,
          summary="Archive an action (editor role)")
    def archive(self, action_id: str, caller: Caller, management: ManagementApp) -> ActionOut:
        return action_out(management.archive_action(caller, action_id))
