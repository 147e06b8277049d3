"""The Account aggregate: commands, the state and events they leave, and replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, resolve_topic

from domain.account import Account, hash_api_key

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = "ct_secret_key"


def replay(events: Sequence[Any]) -> Account:
    """The aggregate rebuilt from its events alone."""
    account = project_aggregate(None, events)
    assert isinstance(account, Account)
    return account


def pending(aggregate: Aggregate) -> list[Any]:
    """The events the aggregate recorded since last asked (typed loosely: each is concrete)."""
    return list(aggregate.collect_events())


def new_account() -> Account:
    return Account(id=uuid4(), name="Acme", api_key_hash=hash_api_key(KEY), actor="admin",
                   occurred_at=NOW)


def test_a_new_account_holds_its_name_and_only_the_hash_of_its_key() -> None:
    account = new_account()
    assert account.name == "Acme"
    assert account.api_key_hash == hash_api_key(KEY) != KEY
    assert KEY not in repr(vars(account))
    assert (account.tag_ids, account.campaign_ids, account.shared_tag_ids) == ([], [], [])


def test_the_creation_event_has_a_stable_topic_and_records_actor_and_times() -> None:
    (created,) = new_account().collect_events()
    assert isinstance(created, Account.Created)
    assert Account.Created.TOPIC == "convtrack:Account.Created"
    assert (created.actor, created.occurred_at) == ("admin", NOW)
    assert created.timestamp.tzinfo is not None  # the time recorded, set by the library


def test_the_account_recognises_its_own_key_only() -> None:
    account = new_account()
    assert account.key_matches(KEY)
    assert not account.key_matches(KEY + "x")
    assert not account.key_matches("")


def test_tags_and_campaigns_it_creates_are_listed_in_order() -> None:
    account = new_account()
    account.add_tag("t1", actor="account:a", occurred_at=NOW)
    account.add_tag("t2", actor="account:a", occurred_at=NOW)
    account.add_campaign("c1", actor="account:a", occurred_at=NOW)
    assert account.tag_ids == ["t1", "t2"]
    assert account.campaign_ids == ["c1"]
    topics = [type(e).__name__ for e in pending(account)]
    assert topics == ["Created", "TagAdded", "TagAdded", "CampaignAdded"]


def test_a_tag_shared_twice_is_indexed_once() -> None:
    account = new_account()
    pending(account)
    account.share_tag("t9", actor="account:o", occurred_at=NOW)
    account.share_tag("t9", actor="account:o", occurred_at=NOW)  # a role change: same tag
    assert account.shared_tag_ids == ["t9"]
    assert [type(e) for e in pending(account)] == [Account.TagShared]


def test_unsharing_a_tag_removes_it_and_unsharing_an_unknown_tag_records_nothing() -> None:
    account = new_account()
    account.share_tag("t9", actor="account:o", occurred_at=NOW)
    pending(account)
    account.unshare_tag("t9", actor="account:o", occurred_at=NOW)
    account.unshare_tag("t9", actor="account:o", occurred_at=NOW)
    assert account.shared_tag_ids == []
    assert [type(e) for e in pending(account)] == [Account.TagUnshared]


def test_replaying_the_events_rebuilds_the_same_account() -> None:
    account = new_account()
    account.add_tag("t1", actor="account:a", occurred_at=NOW)
    account.add_campaign("c1", actor="account:a", occurred_at=NOW)
    account.share_tag("t2", actor="account:b", occurred_at=NOW)
    account.share_tag("t3", actor="account:b", occurred_at=NOW)
    account.unshare_tag("t2", actor="account:b", occurred_at=NOW)
    events = pending(account)
    assert replay(events) == account
    assert replay(events).shared_tag_ids == ["t3"]


def test_every_event_is_stored_under_an_explicit_stable_topic() -> None:
    account = new_account()
    account.add_tag("t1", actor="a", occurred_at=NOW)
    account.add_campaign("c1", actor="a", occurred_at=NOW)
    account.share_tag("t2", actor="a", occurred_at=NOW)
    account.unshare_tag("t2", actor="a", occurred_at=NOW)
    events = pending(account)
    assert [get_topic(type(e)) for e in events] == [
        "convtrack:Account.Created", "convtrack:Account.TagAdded",
        "convtrack:Account.CampaignAdded", "convtrack:Account.TagShared",
        "convtrack:Account.TagUnshared"]
    assert all(resolve_topic(get_topic(type(e))) is type(e) for e in events)
    assert get_topic(Account) == "convtrack:Account"
