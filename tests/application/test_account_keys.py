"""Accounts' API keys and status, on the in-memory store and on PostgreSQL (see conftest.py):
creating, listing and revoking keys, disabling accounts, last use, and keys made before keys had
ids (ADR 0022)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from adapters.bootstrap import Container
from application.access import Caller
from application.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from domain.account import MAX_KEYS, first_key_id, hash_api_key
from tests.application.legacy_accounts import record_v1_account
from tests.application.management_world import World, world  # noqa: F401  (world is a fixture)


def secret_of(api_key: str) -> str:
    """Everything after the account id; token_urlsafe may itself contain "_"."""
    return api_key.removeprefix("ct_").partition("_")[2]


def test_an_account_starts_with_one_key_never_used(world: World) -> None:
    (key,) = world.app.list_keys(world.owner, world.owner_id)
    assert key.last_used_day is None
    assert key.created_at.tzinfo is not None


def test_an_account_or_the_admin_creates_keys_that_each_authenticate(
    world: World, admin: Caller
) -> None:
    mine = world.app.create_key(world.owner, world.owner_id)
    by_admin = world.app.create_key(admin, world.owner_id)
    assert len({mine.api_key, by_admin.api_key, world.owner_key}) == 3
    assert mine.api_key.startswith(f"ct_{world.owner_id.replace('-', '')}_")
    for api_key in (world.owner_key, mine.api_key, by_admin.api_key):
        assert world.app.authenticate(api_key) == world.owner
    listed = [k.key_id for k in world.app.list_keys(admin, world.owner_id)]
    assert listed[1:] == [mine.key_id, by_admin.key_id] and len(listed) == 3


def test_a_revoked_key_is_refused_at_once_and_the_others_still_work(world: World) -> None:
    new = world.app.create_key(world.owner, world.owner_id)
    (first,) = [k.key_id for k in world.app.list_keys(world.owner, world.owner_id)
                if k.key_id != new.key_id]
    world.app.authenticate(world.owner_key)  # its hash is now known to this process
    world.app.revoke_key(world.owner, world.owner_id, first)
    with pytest.raises(NotAuthenticated):
        world.app.authenticate(world.owner_key)
    assert world.app.authenticate(new.api_key) == world.owner
    assert [k.key_id for k in world.app.list_keys(world.owner, world.owner_id)] == [new.key_id]
    with pytest.raises(NotFound):  # revoked keys are gone, like keys that never were
        world.app.revoke_key(world.owner, world.owner_id, first)


def test_the_last_key_cannot_be_revoked(world: World, admin: Caller) -> None:
    (only,) = world.app.list_keys(world.owner, world.owner_id)
    with pytest.raises(Conflict):
        world.app.revoke_key(admin, world.owner_id, only.key_id)
    assert world.app.authenticate(world.owner_key) == world.owner


def test_an_account_holds_at_most_max_keys(world: World) -> None:
    for _ in range(MAX_KEYS - 1):
        world.app.create_key(world.owner, world.owner_id)
    with pytest.raises(Conflict):
        world.app.create_key(world.owner, world.owner_id)


def test_another_account_cannot_see_create_or_revoke_keys_it_is_told_nothing_exists(
    world: World,
) -> None:
    (key,) = world.app.list_keys(world.owner, world.owner_id)
    calls: list[Callable[[], Any]] = [
        lambda: world.app.list_keys(world.other, world.owner_id),
        lambda: world.app.create_key(world.other, world.owner_id),
        lambda: world.app.revoke_key(world.other, world.owner_id, key.key_id),
        lambda: world.app.list_keys(world.other, "no-such-account"),
    ]
    for call in calls:
        with pytest.raises(NotFound) as error:
            call()
        assert "no account" in error.value.detail
    assert len(world.app.list_keys(world.owner, world.owner_id)) == 1


def test_the_admin_gets_404_for_an_unknown_account(admin: Caller, world: World) -> None:
    for account_id in ("00000000-0000-0000-0000-000000000000", "nonsense", world.tag_id):
        with pytest.raises(NotFound):
            world.app.list_keys(admin, account_id)
        with pytest.raises(NotFound):
            world.app.disable_account(admin, account_id)


def test_a_disabled_accounts_keys_are_refused_until_it_is_enabled(
    world: World, admin: Caller
) -> None:
    second = world.app.create_key(world.owner, world.owner_id)
    assert world.app.disable_account(admin, world.owner_id).status == "disabled"
    for api_key in (world.owner_key, second.api_key):
        with pytest.raises(NotAuthenticated) as error:
            world.app.authenticate(api_key)
        assert error.value.detail == "the account is disabled"
    with pytest.raises(NotAuthenticated) as error:  # a wrong key learns nothing of the status
        world.app.authenticate(world.owner_key + "x")
    assert error.value.detail == "unknown API key"
    assert world.app.authenticate(world.app.create_account(admin, "Else").api_key)
    assert world.app.enable_account(admin, world.owner_id).status == "active"
    assert world.app.authenticate(world.owner_key) == world.owner
    assert world.app.authenticate(second.api_key) == world.owner


def test_only_the_admin_token_disables_or_enables_accounts(world: World) -> None:
    for caller in (world.owner, world.other):
        with pytest.raises(Forbidden):
            world.app.disable_account(caller, world.owner_id)
        with pytest.raises(Forbidden):
            world.app.enable_account(caller, world.owner_id)


def test_disabling_twice_or_enabling_an_active_account_records_nothing(
    world: World, admin: Caller
) -> None:
    def version() -> int:
        return int(world.app.get_account(admin, world.owner_id).version)

    before = version()
    world.app.enable_account(admin, world.owner_id)
    assert version() == before
    world.app.disable_account(admin, world.owner_id)
    world.app.disable_account(admin, world.owner_id)
    assert version() == before + 1


def test_last_use_is_the_utc_day_and_is_written_once_a_day_per_key(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [datetime(2026, 3, 1, 23, 30, tzinfo=UTC)]
    world.app.clock = lambda: now[0]
    recorder: Any = world.app.recorder
    writes: list[tuple[str, date]] = []
    real = recorder.record_key_use
    monkeypatch.setattr(recorder, "record_key_use",
                        lambda key_id, day: (writes.append((key_id, day)), real(key_id, day)))
    for _ in range(5):
        world.app.authenticate(world.owner_key)
    (key,) = world.app.list_keys(world.owner, world.owner_id)
    assert key.last_used_day == date(2026, 3, 1)
    now[0] += timedelta(hours=1)  # midnight in UTC: a new day
    for _ in range(5):
        world.app.authenticate(world.owner_key)
    assert writes == [(key.key_id, date(2026, 3, 1)), (key.key_id, date(2026, 3, 2))]
    (key,) = world.app.list_keys(world.owner, world.owner_id)
    assert key.last_used_day == date(2026, 3, 2)


def test_key_hashes_and_secrets_are_in_no_stored_event(world: World, admin: Caller) -> None:
    created = world.app.create_account(admin, "Keys")
    account_id = str(created.account.id)
    more = world.app.create_key(admin, account_id)
    world.app.revoke_key(admin, account_id, more.key_id)
    world.app.disable_account(admin, account_id)
    states = b"".join(s.state for s in world.app.recorder.select_notifications(1, 1000))
    for api_key in (created.api_key, more.api_key, world.owner_key):
        for secret in (api_key, secret_of(api_key), hash_api_key(api_key)):
            assert secret.encode() not in states


def test_an_account_created_before_keys_had_ids_keeps_its_key_under_a_derived_id(
    container: Container, admin: Caller
) -> None:
    app = container.management
    account_id, api_key = record_v1_account(app, "Old timer")
    caller = app.authenticate(api_key)
    assert caller == Caller.account(str(account_id))
    (legacy,) = app.list_keys(caller, str(account_id))
    assert legacy.key_id == first_key_id(account_id)
    assert legacy.last_used_day is not None
    new = app.create_key(caller, str(account_id))
    app.revoke_key(caller, str(account_id), legacy.key_id)
    with pytest.raises(NotAuthenticated):
        app.authenticate(api_key)
    assert app.authenticate(new.api_key) == caller
