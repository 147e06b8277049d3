"""The management application: accounts, insight tags, campaigns and conversion actions."""

from __future__ import annotations

from application.accounts import AccountCommands
from application.actions import ActionCommands
from application.campaigns import CampaignCommands
from domain.account import Account
from domain.campaign import Campaign
from domain.conversion_action import ConversionAction
from domain.insight_tag import InsightTag


class ManagementApp(AccountCommands, CampaignCommands, ActionCommands):
    """Every management command of docs/api.md, with access control (ADR 0005)."""

    # The library names an application after its class unless the class itself sets `name`,
    # and the name picks the events table (`management_events`) and the NATS message ids.
    name = "management"

    # Lookups for the ingestion side, which checks facts against the catalogue without a caller.
    def find_campaign(self, campaign_id: str) -> Campaign | None:
        """A campaign by id, whoever owns it."""
        return self._find(Campaign, campaign_id)

    def find_action(self, action_id: str) -> ConversionAction | None:
        """A conversion action by id, whoever owns it."""
        return self._find(ConversionAction, action_id)

    def find_tag(self, tag_id: str) -> InsightTag | None:
        """A tag by id, whoever owns it."""
        return self._find(InsightTag, tag_id)

    def find_account(self, account_id: str) -> Account | None:
        """An account by id (click URLs look up the tags a campaign's owner can see)."""
        return self._find(Account, account_id)
