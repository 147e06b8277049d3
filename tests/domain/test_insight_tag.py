"""The InsightTag aggregate: domains, grants and roles; events recorded and replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.insight_tag import (
    AccessDenied,
    DomainNotRegistered,
    GrantNotFound,
    InsightTag,
    OwnerCannotBeGranted,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OWNER = "owner-account"


def replay(events: Sequence[Any]) -> InsightTag:
    """The aggregate rebuilt from its events alone."""
    tag = project_aggregate(None, events)
    assert isinstance(tag, InsightTag)
    return tag


def pending(aggregate: Aggregate) -> list[Any]:
    """The events the aggregate recorded since last asked (typed loosely: each is concrete)."""
    return list(aggregate.collect_events())


def new_tag() -> InsightTag:
    return InsightTag(owner_account_id=OWNER, name="shop", actor=f"account:{OWNER}",
                      occurred_at=NOW)


def event_names(tag: InsightTag) -> list[str]:
    return [type(e).__name__ for e in pending(tag)]


def test_a_new_tag_is_active_with_no_domains_grants_or_actions() -> None:
    tag = new_tag()
    assert (tag.owner_account_id, tag.name, tag.status) == (OWNER, "shop", "active")
    assert (tag.domains, tag.grants, tag.action_ids) == ([], {}, [])
    (created,) = pending(tag)
    assert get_topic(type(created)) == "convtrack:InsightTag.Created"
    assert (created.actor, created.occurred_at) == (f"account:{OWNER}", NOW)


def test_a_domain_is_registered_once_however_often_it_is_sent() -> None:
    tag = new_tag()
    pending(tag)
    tag.register_domain("shop.example.com", actor="a", occurred_at=NOW)
    tag.register_domain("shop.example.com", actor="a", occurred_at=NOW)
    assert tag.domains == ["shop.example.com"]
    assert event_names(tag) == ["DomainRegistered"]


def test_a_registered_domain_can_be_removed() -> None:
    tag = new_tag()
    tag.register_domain("a.example", actor="a", occurred_at=NOW)
    tag.register_domain("b.example", actor="a", occurred_at=NOW)
    tag.remove_domain("a.example", actor="a", occurred_at=NOW)
    assert tag.domains == ["b.example"]


def test_removing_a_domain_that_is_not_registered_fails_and_records_nothing() -> None:
    tag = new_tag()
    pending(tag)
    with pytest.raises(DomainNotRegistered):
        tag.remove_domain("nowhere.example", actor="a", occurred_at=NOW)
    assert event_names(tag) == []


def test_the_owner_has_the_owner_role_and_a_stranger_none() -> None:
    tag = new_tag()
    assert tag.role_of(OWNER) == "owner"
    assert tag.role_of("stranger") is None


@pytest.mark.parametrize(("role", "allowed"), [
    ("viewer", {"viewer"}),
    ("editor", {"viewer", "editor"}),
    ("admin", {"viewer", "editor", "admin"}),
])
def test_each_role_includes_the_rights_of_the_roles_below_it(role: str, allowed: set[str]) -> None:
    tag = new_tag()
    tag.grant_access("other", role, actor="a", occurred_at=NOW)
    for needed in ("viewer", "editor", "admin"):
        if needed in allowed:
            tag.check_role("other", needed)
        else:
            with pytest.raises(AccessDenied):
                tag.check_role("other", needed)


def test_the_owner_has_every_right_and_a_stranger_none() -> None:
    tag = new_tag()
    for needed in ("viewer", "editor", "admin"):
        tag.check_role(OWNER, needed)
        with pytest.raises(AccessDenied) as denied:
            tag.check_role("stranger", needed)
        assert denied.value.has == "none"


def test_granting_the_role_an_account_already_has_records_nothing() -> None:
    tag = new_tag()
    pending(tag)
    tag.grant_access("other", "viewer", actor="a", occurred_at=NOW)
    tag.grant_access("other", "viewer", actor="a", occurred_at=NOW)
    tag.grant_access("other", "editor", actor="a", occurred_at=NOW)
    assert tag.grants == {"other": "editor"}
    assert event_names(tag) == ["AccessGranted", "AccessGranted"]


def test_the_owner_cannot_be_granted_a_role() -> None:
    tag = new_tag()
    with pytest.raises(OwnerCannotBeGranted):
        tag.grant_access(OWNER, "viewer", actor="a", occurred_at=NOW)
    assert tag.grants == {}


def test_a_revoked_account_loses_sight_of_the_tag() -> None:
    tag = new_tag()
    tag.grant_access("other", "admin", actor="a", occurred_at=NOW)
    tag.revoke_access("other", actor="a", occurred_at=NOW)
    assert tag.role_of("other") is None
    with pytest.raises(AccessDenied):
        tag.check_role("other", "viewer")


def test_revoking_an_account_without_a_grant_fails_and_records_nothing() -> None:
    tag = new_tag()
    pending(tag)
    with pytest.raises(GrantNotFound):
        tag.revoke_access("other", actor="a", occurred_at=NOW)
    assert event_names(tag) == []


def test_grants_and_revocations_are_events_that_say_who_did_what_when() -> None:
    tag = new_tag()
    pending(tag)
    later = datetime(2026, 3, 2, tzinfo=UTC)
    tag.grant_access("other", "editor", actor=f"account:{OWNER}", occurred_at=NOW)
    tag.revoke_access("other", actor="account:admin-grantee", occurred_at=later)
    granted, revoked = pending(tag)
    assert isinstance(granted, InsightTag.AccessGranted)
    assert (granted.account_id, granted.role, granted.actor) == (
        "other", "editor", f"account:{OWNER}")
    assert isinstance(revoked, InsightTag.AccessRevoked)
    assert (revoked.account_id, revoked.actor, revoked.occurred_at) == (
        "other", "account:admin-grantee", later)
    assert [get_topic(type(e)) for e in (granted, revoked)] == [
        "convtrack:InsightTag.AccessGranted", "convtrack:InsightTag.AccessRevoked"]


def test_actions_added_to_the_tag_are_listed_in_order() -> None:
    tag = new_tag()
    tag.add_action("a1", actor="a", occurred_at=NOW)
    tag.add_action("a2", actor="a", occurred_at=NOW)
    assert tag.action_ids == ["a1", "a2"]


def test_replaying_the_events_rebuilds_the_same_tag() -> None:
    tag = new_tag()
    tag.register_domain("a.example", actor="a", occurred_at=NOW)
    tag.register_domain("b.example", actor="a", occurred_at=NOW)
    tag.remove_domain("a.example", actor="a", occurred_at=NOW)
    tag.grant_access("x", "viewer", actor="a", occurred_at=NOW)
    tag.grant_access("y", "admin", actor="a", occurred_at=NOW)
    tag.grant_access("x", "editor", actor="a", occurred_at=NOW)
    tag.revoke_access("y", actor="a", occurred_at=NOW)
    tag.add_action("a1", actor="a", occurred_at=NOW)
    rebuilt = replay(pending(tag))
    assert rebuilt == tag
    assert (rebuilt.domains, rebuilt.grants, rebuilt.action_ids) == (
        ["b.example"], {"x": "editor"}, ["a1"])
