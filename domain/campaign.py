"""The Campaign aggregate: an ad campaign's name, status history and daily spend."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate, event


class CampaignError(Exception):
    """Base of the Campaign guards' errors."""


class CampaignArchived(CampaignError):
    """An archived campaign takes no more changes."""


class SpendCurrencyMismatch(CampaignError):
    """All spend of a campaign is in one currency, so cost per conversion and ROAS can be summed."""


class Campaign(Aggregate):
    """An ad campaign, owned by one account.

    Invariants: `status_history` is in recording order and starts with the status at creation
    (docs/attribution.md: a campaign's status at a time); an archived campaign is never renamed or
    re-activated, and takes spend only for days up to its archive day; spend is one amount per
    day (the last record wins) in a single currency.
    """

    TOPIC = "convtrack:Campaign"

    class Event(Aggregate.Event):
        actor: str
        occurred_at: datetime

    class Created(Event, Aggregate.Created):
        TOPIC = "convtrack:Campaign.Created"
        owner_account_id: str
        name: str
        campaign_type: str
        status: str

    class Renamed(Event):
        TOPIC = "convtrack:Campaign.Renamed"
        name: str

    class StatusChanged(Event):
        TOPIC = "convtrack:Campaign.StatusChanged"
        status: str

    class SpendRecorded(Event):
        TOPIC = "convtrack:Campaign.SpendRecorded"
        day: str
        amount_minor: int
        currency: str

    @event(Created)
    def __init__(
        self, owner_account_id: str, name: str, campaign_type: str, status: str,
        actor: str, occurred_at: datetime,
    ) -> None:
        self.owner_account_id = owner_account_id
        self.name = name
        self.campaign_type = campaign_type
        self.status = status
        self.status_history: list[tuple[datetime, str]] = [(occurred_at, status)]
        self.spend: dict[str, int] = {}
        self.currency: str | None = None

    def check_not_archived(self) -> None:
        """Archived campaigns are history: nothing about them changes."""
        if self.status == "archived":
            raise CampaignArchived(str(self.id))

    def rename(self, name: str, actor: str, occurred_at: datetime) -> None:
        """Give the campaign a new name."""
        self.check_not_archived()
        if name != self.name:
            self._rename(name, actor, occurred_at)

    @event(Renamed)
    def _rename(self, name: str, actor: str, occurred_at: datetime) -> None:
        self.name = name

    def change_status(self, status: str, actor: str, occurred_at: datetime) -> None:
        """Pause, resume or archive; the same status again records nothing."""
        self.check_not_archived()
        if status != self.status:
            self._change_status(status, actor, occurred_at)

    @event(StatusChanged)
    def _change_status(self, status: str, actor: str, occurred_at: datetime) -> None:
        self.status = status
        self.status_history.append((occurred_at, status))

    def record_spend(
        self, day: str, amount_minor: int, currency: str, actor: str, occurred_at: datetime
    ) -> None:
        """Record a day's spend; a later record for the same day replaces the earlier one."""
        # The ad platform bills the last days a campaign ran after it was archived, so spend
        # is taken for days up to the archive day (UTC); a later day would be spend it never had.
        if self.status == "archived" and day > self.status_history[-1][0].date().isoformat():
            raise CampaignArchived(f"campaign {self.id} was archived before {day}")
        if self.currency is not None and currency != self.currency:
            raise SpendCurrencyMismatch(f"this campaign's spend is in {self.currency}")
        self._record_spend(day, amount_minor, currency, actor, occurred_at)

    @event(SpendRecorded)
    def _record_spend(
        self, day: str, amount_minor: int, currency: str, actor: str, occurred_at: datetime
    ) -> None:
        self.spend[day] = amount_minor
        self.currency = currency
