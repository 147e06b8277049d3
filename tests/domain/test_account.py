"""The Account aggregate: commands, the state and events they leave, and replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, resolve_topic

import pytest

from domain.account import (
    MAX_KEYS,
    SECRET_FIELDS,
    Account,
    KeyNotFound,
    LastKey,
    TooManyKeys,
    first_key_id,
    hash_api_key,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
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
    return Account(id=uuid4(), name="Acme", key_id="k1", actor="admin", occurred_at=NOW)


def test_a_new_account_holds_its_name_and_its_first_key_by_id_and_no_secret() -> None:
    account = new_account()
    assert account.name == "Acme"
    assert account.keys == {"k1": NOW}
    assert account.recorded_key_hashes == {}  # the hash is kept beside the events (ADR 0022)
    assert (account.status, account.disabled) == ("active", False)
    assert (account.tag_ids, account.campaign_ids, account.shared_tag_ids) == ([], [], [])


def test_the_creation_event_has_a_stable_topic_and_records_actor_and_times() -> None:
    (created,) = new_account().collect_events()
    assert isinstance(created, Account.Created)
    assert Account.Created.TOPIC == "convtrack:Account.Created"
    assert (created.actor, created.occurred_at) == ("admin", NOW)
    assert created.timestamp.tzinfo is not None  # the time recorded, set by the library
    assert (created.key_id, created.api_key_hash) == ("k1", None)


def test_a_version_1_creation_event_is_upcast_with_a_stable_key_id_and_keeps_its_hash() -> None:
    account_id = uuid4()
    state = {"originator_id": account_id, "originator_version": 1, "name": "Old",
             "api_key_hash": hash_api_key(KEY)}
    Account.Created.upcast_v1_v2(state)
    assert state["key_id"] == first_key_id(account_id) == first_key_id(str(account_id))
    assert first_key_id(account_id) != first_key_id(uuid4())
    assert Account.Created.class_version == 2
    old = Account(id=account_id, name="Old", key_id=state["key_id"], actor="admin",
                  occurred_at=NOW, api_key_hash=hash_api_key(KEY))
    assert old.recorded_key_hashes == {first_key_id(account_id): hash_api_key(KEY)}


def test_the_only_secret_field_of_any_event_is_the_v1_creation_key_hash() -> None:
    assert SECRET_FIELDS == {"convtrack:Account.Created": frozenset({"api_key_hash"})}
    account = new_account()
    account.create_key("k2", actor="admin", occurred_at=NOW)
    account.revoke_key("k1", actor="admin", occurred_at=NOW)
    for event in pending(account)[1:]:
        assert set(vars(event)) - {"originator_id", "originator_version", "timestamp", "actor",
                                   "occurred_at"} == {"key_id"}


# --- keys -------------------------------------------------------------------------------------

def test_a_created_key_is_live_from_its_creation_time() -> None:
    account = new_account()
    pending(account)
    account.create_key("k2", actor="account:a", occurred_at=LATER)
    assert account.keys == {"k1": NOW, "k2": LATER}
    (created,) = pending(account)
    assert isinstance(created, Account.KeyCreated) and created.key_id == "k2"


def test_an_account_holds_at_most_max_keys() -> None:
    account = new_account()
    for i in range(2, MAX_KEYS + 1):
        account.create_key(f"k{i}", actor="admin", occurred_at=NOW)
    pending(account)
    with pytest.raises(TooManyKeys):
        account.create_key("one-too-many", actor="admin", occurred_at=NOW)
    assert len(account.keys) == MAX_KEYS and pending(account) == []
    account.revoke_key("k1", actor="admin", occurred_at=NOW)
    account.create_key("room-again", actor="admin", occurred_at=NOW)
    assert len(account.keys) == MAX_KEYS


def test_a_key_id_is_never_reused() -> None:
    account = new_account()
    with pytest.raises(ValueError):
        account.create_key("k1", actor="admin", occurred_at=NOW)


def test_a_revoked_key_is_no_longer_live_and_cannot_be_revoked_twice() -> None:
    account = new_account()
    account.create_key("k2", actor="admin", occurred_at=NOW)
    pending(account)
    account.revoke_key("k1", actor="account:a", occurred_at=LATER)
    assert account.keys == {"k2": NOW}
    (revoked,) = pending(account)
    assert isinstance(revoked, Account.KeyRevoked) and revoked.key_id == "k1"
    with pytest.raises(KeyNotFound):
        account.revoke_key("k1", actor="account:a", occurred_at=LATER)
    with pytest.raises(KeyNotFound):
        account.revoke_key("never-made", actor="account:a", occurred_at=LATER)
    assert pending(account) == []


def test_the_last_live_key_cannot_be_revoked() -> None:
    account = new_account()
    account.create_key("k2", actor="admin", occurred_at=NOW)
    account.revoke_key("k2", actor="admin", occurred_at=NOW)
    pending(account)
    with pytest.raises(LastKey):
        account.revoke_key("k1", actor="admin", occurred_at=NOW)
    assert account.keys == {"k1": NOW} and pending(account) == []


# --- disabling --------------------------------------------------------------------------------

def test_disabling_and_enabling_record_only_changes() -> None:
    account = new_account()
    pending(account)
    account.disable(actor="admin", occurred_at=NOW)
    account.disable(actor="admin", occurred_at=NOW)
    assert (account.disabled, account.status) == (True, "disabled")
    assert account.keys == {"k1": NOW}  # kept, only refused
    account.enable(actor="admin", occurred_at=LATER)
    account.enable(actor="admin", occurred_at=LATER)
    assert (account.disabled, account.status) == (False, "active")
    assert [type(e) for e in pending(account)] == [Account.Disabled, Account.Enabled]


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
    account.create_key("k2", actor="account:a", occurred_at=LATER)
    account.revoke_key("k1", actor="account:a", occurred_at=LATER)
    account.disable(actor="admin", occurred_at=LATER)
    events = pending(account)
    assert replay(events) == account
    assert replay(events).shared_tag_ids == ["t3"]
    assert (replay(events).keys, replay(events).disabled) == ({"k2": LATER}, True)


def test_every_event_is_stored_under_an_explicit_stable_topic() -> None:
    account = new_account()
    account.add_tag("t1", actor="a", occurred_at=NOW)
    account.add_campaign("c1", actor="a", occurred_at=NOW)
    account.share_tag("t2", actor="a", occurred_at=NOW)
    account.unshare_tag("t2", actor="a", occurred_at=NOW)
    account.create_key("k2", actor="a", occurred_at=NOW)
    account.revoke_key("k1", actor="a", occurred_at=NOW)
    account.disable(actor="a", occurred_at=NOW)
    account.enable(actor="a", occurred_at=NOW)
    events = pending(account)
    assert [get_topic(type(e)) for e in events] == [
        "convtrack:Account.Created", "convtrack:Account.TagAdded",
        "convtrack:Account.CampaignAdded", "convtrack:Account.TagShared",
        "convtrack:Account.TagUnshared", "convtrack:Account.KeyCreated",
        "convtrack:Account.KeyRevoked", "convtrack:Account.Disabled",
        "convtrack:Account.Enabled"]
    assert all(resolve_topic(get_topic(type(e))) is type(e) for e in events)
    assert get_topic(Account) == "convtrack:Account"
