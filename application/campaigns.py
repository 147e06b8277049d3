"""Campaign commands: campaigns, their status and their daily spend."""

from __future__ import annotations

from datetime import date, timedelta

from application.access import Caller
from application.errors import Conflict, NotFound
from application.management_base import ManagementBase, retried_on_conflict
from domain.account import Account
from domain.campaign import Campaign, CampaignArchived, SpendCurrencyMismatch
from domain.validation import Invalid, check_amount, check_currency, check_one_of, check_text
from domain.values import CAMPAIGN_STATUSES, CAMPAIGN_TYPES


class CampaignCommands(ManagementBase):
    """Creating and changing an account's campaigns."""

    @retried_on_conflict
    def create_campaign(
        self, caller: Caller, name: str, campaign_type: str, status: str
    ) -> Campaign:
        """Create a campaign owned by the calling account."""
        account = self._get(Account, self._require_account(caller), "account")
        check_one_of(campaign_type, CAMPAIGN_TYPES, "type")
        check_one_of(status, ("active", "paused"), "status")
        campaign = Campaign(owner_account_id=str(account.id), name=check_text(name, "name"),
                            campaign_type=campaign_type, status=status, actor=caller.actor,
                            occurred_at=self.clock())
        account.add_campaign(str(campaign.id), actor=caller.actor, occurred_at=self.clock())
        self.save(campaign, account)
        return campaign

    def get_campaign(self, caller: Caller, campaign_id: str) -> Campaign:
        """One of the caller's campaigns."""
        # The admin token is no account: 403 as for every other management call, not a 404.
        account_id = self._require_account(caller)
        campaign = self._find(Campaign, campaign_id)
        if campaign is None or campaign.owner_account_id != account_id:
            raise NotFound(f"no campaign {campaign_id!r}")
        return campaign

    def list_campaigns(self, caller: Caller) -> list[Campaign]:
        """The caller's campaigns, oldest first."""
        account = self._get(Account, self._require_account(caller), "account")
        found = [self._find(Campaign, c) for c in account.campaign_ids]
        return [c for c in found if c is not None]

    @retried_on_conflict
    def update_campaign(
        self, caller: Caller, campaign_id: str, *, name: str | None, status: str | None
    ) -> Campaign:
        """Rename and/or change status; archived campaigns are read-only (409)."""
        campaign = self.get_campaign(caller, campaign_id)
        try:
            if name is not None:
                campaign.rename(check_text(name, "name"), actor=caller.actor,
                                occurred_at=self.clock())
            if status is not None:
                check_one_of(status, CAMPAIGN_STATUSES, "status")
                campaign.change_status(status, actor=caller.actor, occurred_at=self.clock())
        except CampaignArchived:
            raise Conflict("the campaign is archived") from None
        self.save(campaign)
        return campaign

    @retried_on_conflict
    def record_spend(
        self, caller: Caller, campaign_id: str, day: str, amount_minor: int, currency: str
    ) -> Campaign:
        """Record one day's spend; the last record for a day wins."""
        campaign = self.get_campaign(caller, campaign_id)
        try:
            spend_day = date.fromisoformat(day)
        except ValueError:
            raise Invalid("day", "invalid_date", "day must be a date, YYYY-MM-DD") from None
        if spend_day > self.clock().date() + timedelta(days=1):
            raise Invalid("day", "in_future", "spend cannot be recorded for a future day")
        check_amount(amount_minor, "amount_minor")
        check_currency(currency, "currency")
        try:
            campaign.record_spend(spend_day.isoformat(), amount_minor, currency,
                                  actor=caller.actor, occurred_at=self.clock())
        except SpendCurrencyMismatch as mismatch:
            raise Invalid("currency", "currency_mismatch", str(mismatch)) from None
        except CampaignArchived:
            # docs/api.md: 409 for a change the thing's state forbids (was an unmapped 500).
            raise Conflict("the campaign was archived before this day", field="day") from None
        self.save(campaign)
        return campaign
