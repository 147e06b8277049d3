"""Checks one batch's facts against the rules and the catalogue (docs/attribution.md: Rejected
input).

A check turns a decoded fact into a `Plan` (what to record, on whose timeline, under which
idempotency key) or an `Undecodable` rejection naming the field and the reason. Catalogue
lookups are memoised for the batch: 500 touches usually name a handful of campaigns.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from application.access import Caller
from application.fact_ledger import FactKey, FactRecorder
from application.facts import ConversionIn, Plan, TouchIn, Undecodable
from domain.campaign import Campaign
from domain.conversion_action import ConversionAction
from domain.firing import REASONS, find_refusal
from domain.insight_tag import ROLE_RANK, InsightTag
from domain.member_timeline import conversion_scope
from domain.validation import (
    Invalid,
    check_amount,
    check_conversion_time,
    check_currency,
    check_identifier,
    check_one_of,
    check_touch_time,
)
from domain.values import TOUCH_KINDS

if TYPE_CHECKING:
    from application.management import ManagementApp


class FactChecks:
    """The checks for one batch, by one caller, at one moment."""

    def __init__(
        self, catalogue: ManagementApp, ledger: FactRecorder, caller: Caller, now: datetime
    ) -> None:
        self.catalogue = catalogue
        self.ledger = ledger
        self.caller = caller
        self.now = now
        self._campaigns: dict[str, Campaign | None] = {}
        self._actions: dict[str, ConversionAction | None] = {}
        self._tags: dict[str, InsightTag | None] = {}
        self._clicks: dict[str, FactKey] = {}
        self._verdicts: dict[str, tuple[ConversionAction, str, str] | Invalid] = {}

    def touch(self, index: int, item: TouchIn) -> Plan | Undecodable:
        """Check an impression or click; the touch scope is global (the ad platform's ids)."""
        try:
            check_identifier(item.event_id, "event_id")
            check_identifier(item.member_id, "member_id")
            check_one_of(item.kind, TOUCH_KINDS, "kind")
            check_touch_time(item.occurred_at, self.now)
            if self._campaign(item.campaign_id) is None:
                raise Invalid("campaign_id", "unknown_campaign",
                              f"no campaign {item.campaign_id!r}")
        except Invalid as invalid:
            return _rejection(item.event_id, item.payload, invalid)
        return Plan(index, "touch", item.event_id, item.member_id, item.kind, item.payload,
                    item, self.caller.actor, campaign_id=item.campaign_id)

    def resolve_click_ids(self, click_ids: list[str]) -> None:
        """Find the members of the batch's click ids at once (a click's event_id is its id)."""
        # Ids that are no identifiers (NUL, control characters) are rejected per item later;
        # looked up here they would fail the whole batch (PostgreSQL text cannot hold NUL).
        click_ids = [c for c in click_ids if _is_identifier(c)]
        if click_ids:
            keys = self.ledger.find_fact_keys("touch", click_ids)
            self._clicks = {k.event_id: k for k in keys.values() if k.source == "click"}

    def find_click(self, click_id: str) -> FactKey | None:
        """The recorded click with this id, whoever's campaign it was on (internal use only:
        what a sender learns of a click goes through the action's linked campaigns)."""
        return self._clicks.get(click_id)

    def conversion(self, index: int, item: ConversionIn) -> Plan | Undecodable:
        """Check a conversion; its idempotency scope is its tag (docs/attribution.md)."""
        try:
            check_identifier(item.event_id, "event_id")
            action, tag_id, scope = self._sendable(item.action_id)
            member_id = self._member_of(item, action)
            check_conversion_time(item.occurred_at, self.now)
            if item.value is not None:
                check_amount(item.value.amount_minor, "value.amount_minor")
                check_currency(item.value.currency, "value.currency")
        except Invalid as invalid:
            return _rejection(item.event_id, item.payload, invalid)
        return Plan(index, scope, item.event_id, member_id, item.source, item.payload, item,
                    self.caller.actor, tag_id)

    def _sendable(self, action_id: str) -> tuple[ConversionAction, str, str]:
        """The action with its tag id and idempotency scope, if the caller may send it; the
        verdict is the same for every item of the batch, so it is reached once per action."""
        verdict = self._verdicts.get(action_id)
        if verdict is None:
            try:
                action, tag = self._action_for_caller(action_id)
                tag_id = str(tag.id)
                verdict = (action, tag_id, conversion_scope(tag_id))
            except Invalid as invalid:
                verdict = invalid
            self._verdicts[action_id] = verdict
        if isinstance(verdict, Invalid):
            raise Invalid(verdict.field, verdict.code, verdict.detail)
        return verdict

    def _action_for_caller(self, action_id: str) -> tuple[ConversionAction, InsightTag]:
        action = self._action(action_id)
        tag = self._tag(action.tag_id) if action else None
        role = None
        if tag is not None and self.caller.account_id is not None:
            role = tag.role_of(self.caller.account_id)
        if action is None or tag is None or (role is None and not self.caller.is_admin):
            raise Invalid("action_id", "unknown_action", f"no conversion action {action_id!r}")
        if role is not None and ROLE_RANK[role] < ROLE_RANK["editor"]:
            raise Invalid("action_id", "forbidden",
                          "sending conversions needs the editor role on the action's tag")
        refusal = find_refusal(action)
        if refusal is not None:
            raise Invalid("action_id", refusal, REASONS[refusal])
        return action, tag

    def _member_of(self, item: ConversionIn, action: ConversionAction) -> str | None:
        """The conversion's member; None for a click of a member who had opted out."""
        if item.click_id is not None:
            # Checked even beside a member_id: the click id is recorded with the conversion,
            # and a control character in it would poison every reader of the event.
            check_identifier(item.click_id, "click_id")
        if item.member_id is not None:
            check_identifier(item.member_id, "member_id")
            return item.member_id
        if item.click_id is not None:
            # A click resolves only through a campaign the action links: any other click,
            # another advertiser's above all, is answered exactly as one never recorded, so a
            # sender can neither map foreign clicks to members nor learn that they exist.
            click = self._clicks.get(item.click_id)
            if click is None or click.campaign_id not in action.settings.campaign_ids:
                raise Invalid("click_id", "unknown_click_id",
                              f"no click {item.click_id!r} was recorded")
            return click.member_id
        raise Invalid("member_id", "missing_member", "give a member_id or a known click_id")

    def _campaign(self, campaign_id: str) -> Campaign | None:
        if campaign_id not in self._campaigns:
            self._campaigns[campaign_id] = self.catalogue.find_campaign(campaign_id)
        return self._campaigns[campaign_id]

    def _action(self, action_id: str) -> ConversionAction | None:
        if action_id not in self._actions:
            self._actions[action_id] = self.catalogue.find_action(action_id)
        return self._actions[action_id]

    def _tag(self, tag_id: str) -> InsightTag | None:
        if tag_id not in self._tags:
            self._tags[tag_id] = self.catalogue.find_tag(tag_id)
        return self._tags[tag_id]


def _is_identifier(value: str) -> bool:
    try:
        check_identifier(value, "click_id")
    except Invalid:
        return False
    return True


def _rejection(event_id: str, payload: Any, invalid: Invalid) -> Undecodable:
    return Undecodable(event_id or None, invalid.field, invalid.code, invalid.detail, payload)
