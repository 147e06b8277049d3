"""Conversion action commands, and the URL debugger that explains which actions a URL fires."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from application.access import Caller
from application.errors import Conflict, NotFound, UnknownReference
from application.management_base import retried_on_conflict
from application.tags import TagCommands
from domain.campaign import Campaign
from domain.conversion_action import ActionArchived, ActionSettings, ConversionAction
from domain.firing import PageVerdict, judge_page
from domain.insight_tag import InsightTag
from domain.validation import Invalid
from domain.values import DEFAULT_CLICK_WINDOW_DAYS, DEFAULT_VIEW_WINDOW_DAYS, default_counting

EDITABLE = (
    "name", "category", "rules", "value_mode", "value", "click_window_days", "view_window_days",
    "counting", "attribution", "campaign_ids", "enabled",
)


# The debugger answers with the domain's verdict as it is (the collector will use the same one).
UrlDebug = PageVerdict


class ActionCommands(TagCommands):
    """Defining, changing and archiving conversion actions."""

    @retried_on_conflict
    def create_action(self, caller: Caller, tag_id: str, fields: Mapping[str, Any]) -> ConversionAction:
        """Define an action on a tag (editor role); unset settings get docs/api.md's defaults."""
        try:
            tag = self._tag_for_change(caller, tag_id, "editor")
        except NotFound:
            # docs/api.md: an unknown id referenced in a body is 422 naming the field (not a 404).
            raise UnknownReference(f"no tag {tag_id!r}", field="tag_id") from None
        category = fields["category"]
        defaults: dict[str, Any] = {
            "rules": [], "value_mode": "dynamic", "value": None,
            "click_window_days": DEFAULT_CLICK_WINDOW_DAYS,
            "view_window_days": DEFAULT_VIEW_WINDOW_DAYS,
            "counting": default_counting(category),
            "attribution": "last_touch_each_campaign", "campaign_ids": [], "enabled": True,
        }
        settings = ActionSettings.from_dict(defaults | dict(fields))
        self._check_campaigns(caller, tag, settings.campaign_ids)
        action = ConversionAction.define(str(tag.id), settings, actor=caller.actor,
                                         occurred_at=self.clock())
        tag.add_action(str(action.id), actor=caller.actor, occurred_at=self.clock())
        self.save(action, tag)
        return action

    def get_action(self, caller: Caller, action_id: str) -> ConversionAction:
        """An action of a tag the caller can see."""
        action = self._find(ConversionAction, action_id)
        if action is None:
            raise NotFound(f"no conversion action {action_id!r}")
        try:
            self._visible_tag(caller, action.tag_id)
        except NotFound:
            raise NotFound(f"no conversion action {action_id!r}") from None
        return action

    def list_actions(self, caller: Caller, tag_id: str | None) -> list[ConversionAction]:
        """The actions of one visible tag, or of every visible tag."""
        tags = [self._visible_tag(caller, tag_id)] if tag_id else self.list_tags(caller)
        found = [self._find(ConversionAction, a) for t in tags for a in t.action_ids]
        return [a for a in found if a is not None]

    @retried_on_conflict
    def update_action(
        self, caller: Caller, action_id: str, changes: Mapping[str, Any]
    ) -> ConversionAction:
        """Change any settings but the tag (editor role); the whole result is re-validated."""
        action = self.get_action(caller, action_id)
        tag = self._tag_for_change(caller, action.tag_id, "editor")
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            field = sorted(unknown)[0]
            raise Invalid(field, "not_editable", f"{field} cannot be changed")
        proposed = ActionSettings.from_dict(action.settings.as_dict() | dict(changes))
        if "campaign_ids" in changes:
            # Only links this change adds are checked: the owner may keep, reorder or drop the
            # links an editor made to the editor's own campaigns.
            self._check_campaigns(caller, tag, proposed.campaign_ids,
                                  already=action.settings.campaign_ids)
        try:
            action.change(proposed, actor=caller.actor, occurred_at=self.clock())
        except ActionArchived:
            raise Conflict("the action is archived and cannot be edited") from None
        self.save(action)
        return action

    @retried_on_conflict
    def archive_action(self, caller: Caller, action_id: str) -> ConversionAction:
        """Archive an action (editor role): it stops converting, its history stays."""
        action = self.get_action(caller, action_id)
        self._tag_for_change(caller, action.tag_id, "editor")
        try:
            action.archive(actor=caller.actor, occurred_at=self.clock())
        except ActionArchived:
            raise Conflict("the action is already archived") from None
        self.save(action)
        return action

    def debug_url(self, caller: Caller, tag_id: str, url: str) -> UrlDebug:
        """Which of the tag's actions a page view of `url` would fire, and why each other not."""
        tag = self._visible_tag(caller, tag_id)
        found = (self._find(ConversionAction, action_id) for action_id in tag.action_ids)
        return judge_page(tag.domains, [a for a in found if a is not None], url)

    def _check_campaigns(
        self, caller: Caller, tag: InsightTag, campaign_ids: tuple[str, ...],
        already: tuple[str, ...] = (),
    ) -> None:
        """docs/api.md: an action links only campaigns of the editing account or the tag's owner."""
        allowed_owners = {caller.account_id, tag.owner_account_id}
        for i, campaign_id in enumerate(campaign_ids):
            if campaign_id in already:
                continue
            campaign = self._find(Campaign, campaign_id)
            if campaign is None or campaign.owner_account_id not in allowed_owners:
                raise UnknownReference(f"no campaign {campaign_id!r} that this action may link",
                                       field=f"campaign_ids[{i}]")

