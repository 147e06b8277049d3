"""The Campaign aggregate: status history, renames, daily spend; events recorded and replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.campaign import Campaign, CampaignArchived, SpendCurrencyMismatch

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)


def replay(events: Sequence[Any]) -> Campaign:
    """The aggregate rebuilt from its events alone."""
    campaign = project_aggregate(None, events)
    assert isinstance(campaign, Campaign)
    return campaign


def pending(aggregate: Aggregate) -> list[Any]:
    """The events the aggregate recorded since last asked (typed loosely: each is concrete)."""
    return list(aggregate.collect_events())


def new_campaign(status: str = "active") -> Campaign:
    return Campaign(owner_account_id="acc", name="Spring", campaign_type="text_ad",
                    status=status, actor="account:acc", occurred_at=T0)


def event_names(campaign: Campaign) -> list[str]:
    return [type(e).__name__ for e in pending(campaign)]


def test_a_new_campaign_starts_its_status_history_with_its_status_at_creation() -> None:
    campaign = new_campaign("paused")
    assert campaign.status == "paused"
    assert campaign.status_history == [(T0, "paused")]
    assert (campaign.spend, campaign.currency) == ({}, None)
    (created,) = pending(campaign)
    assert get_topic(type(created)) == "convtrack:Campaign.Created"
    assert (created.actor, created.occurred_at) == ("account:acc", T0)


def test_status_changes_are_kept_in_order_with_their_times() -> None:
    campaign = new_campaign()
    campaign.change_status("paused", actor="a", occurred_at=T1)
    campaign.change_status("active", actor="a", occurred_at=T2)
    assert campaign.status_history == [(T0, "active"), (T1, "paused"), (T2, "active")]


def test_the_same_status_again_records_nothing() -> None:
    campaign = new_campaign()
    pending(campaign)
    campaign.change_status("active", actor="a", occurred_at=T1)
    assert event_names(campaign) == []
    assert campaign.status_history == [(T0, "active")]


def test_a_rename_to_the_same_name_records_nothing() -> None:
    campaign = new_campaign()
    pending(campaign)
    campaign.rename("Spring", actor="a", occurred_at=T1)
    campaign.rename("Summer", actor="a", occurred_at=T1)
    assert campaign.name == "Summer"
    assert event_names(campaign) == ["Renamed"]


def test_an_archived_campaign_takes_no_more_renames_or_status_changes() -> None:
    campaign = new_campaign()
    campaign.change_status("archived", actor="a", occurred_at=T1)
    pending(campaign)
    with pytest.raises(CampaignArchived):
        campaign.rename("Other", actor="a", occurred_at=T2)
    with pytest.raises(CampaignArchived):
        campaign.change_status("active", actor="a", occurred_at=T2)
    assert (campaign.name, campaign.status) == ("Spring", "archived")
    assert event_names(campaign) == []


def test_spend_is_one_amount_per_day_and_the_last_record_wins() -> None:
    campaign = new_campaign()
    campaign.record_spend("2026-03-01", 10_000, "USD", actor="a", occurred_at=T0)
    campaign.record_spend("2026-03-02", 5_000, "USD", actor="a", occurred_at=T1)
    campaign.record_spend("2026-03-01", 12_500, "USD", actor="a", occurred_at=T2)
    assert campaign.spend == {"2026-03-01": 12_500, "2026-03-02": 5_000}
    assert campaign.currency == "USD"


def test_every_spend_record_is_an_event_even_when_it_replaces_a_day() -> None:
    campaign = new_campaign()
    pending(campaign)
    campaign.record_spend("2026-03-01", 1, "EUR", actor="a", occurred_at=T0)
    campaign.record_spend("2026-03-01", 2, "EUR", actor="a", occurred_at=T1)
    events = pending(campaign)
    assert [(e.day, e.amount_minor, e.currency) for e in events] == [
        ("2026-03-01", 1, "EUR"), ("2026-03-01", 2, "EUR")]
    assert {get_topic(type(e)) for e in events} == {"convtrack:Campaign.SpendRecorded"}


def test_spend_in_a_second_currency_is_refused() -> None:
    campaign = new_campaign()
    campaign.record_spend("2026-03-01", 100, "USD", actor="a", occurred_at=T0)
    pending(campaign)
    with pytest.raises(SpendCurrencyMismatch):
        campaign.record_spend("2026-03-02", 100, "EUR", actor="a", occurred_at=T1)
    assert campaign.spend == {"2026-03-01": 100}
    assert event_names(campaign) == []


def test_spend_for_the_days_it_ran_is_still_taken_after_archiving() -> None:
    # The ad platform bills the last days after the campaign stopped (a decision: see report).
    campaign = new_campaign()
    campaign.change_status("archived", actor="a", occurred_at=T1)
    campaign.record_spend(T0.date().isoformat(), 700, "USD", actor="a", occurred_at=T2)
    campaign.record_spend(T1.date().isoformat(), 300, "USD", actor="a", occurred_at=T2)
    assert campaign.spend == {"2026-03-01": 700, "2026-03-02": 300}


def test_spend_for_a_day_after_archiving_is_refused() -> None:
    campaign = new_campaign()
    campaign.change_status("archived", actor="a", occurred_at=T1)
    with pytest.raises(CampaignArchived):
        campaign.record_spend(T2.date().isoformat(), 300, "USD", actor="a", occurred_at=T2)
    assert campaign.spend == {}


def test_replaying_the_events_rebuilds_the_same_campaign() -> None:
    campaign = new_campaign()
    campaign.rename("Summer", actor="a", occurred_at=T1)
    campaign.change_status("paused", actor="a", occurred_at=T1)
    campaign.record_spend("2026-03-01", 100, "USD", actor="a", occurred_at=T1)
    campaign.record_spend("2026-03-01", 150, "USD", actor="a", occurred_at=T2)
    campaign.change_status("archived", actor="a", occurred_at=T2)
    events = pending(campaign)
    assert [type(e).__name__ for e in events] == [
        "Created", "Renamed", "StatusChanged", "SpendRecorded", "SpendRecorded",
        "StatusChanged"]
    rebuilt = replay(events)
    assert rebuilt == campaign
    assert rebuilt.status_history == [(T0, "active"), (T1, "paused"), (T2, "archived")]
