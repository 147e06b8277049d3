"""The management application, on the in-memory store and on PostgreSQL (see conftest.py):
accounts, tags, domains, grants and campaigns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from adapters.bootstrap import Container
from application.access import Caller
from application.errors import Conflict, Forbidden, NotAuthenticated, NotFound, UnknownReference
from domain.validation import Invalid
from tests.application.management_world import World, field_of, world  # noqa: F401  (world is a fixture)
from tests.application.support import rebuilt_from_store


# --- accounts ---------------------------------------------------------------------------------

def test_only_the_admin_token_creates_accounts(world: World) -> None:
    with pytest.raises(Forbidden):
        world.app.create_account(world.owner, "Sneaky")


def test_an_account_key_authenticates_its_account_only(world: World) -> None:
    assert world.app.authenticate(world.owner_key) == world.owner
    for wrong in (world.owner_key + "x", world.owner_key[:-1], "ct_", "ct_nothex_secret",
                  "nonsense", "", world.owner_key.replace("ct_", "xx_", 1),
                  world.owner_key.partition("_")[0] + "_" + world.owner_key.split("_")[1]):
        with pytest.raises(NotAuthenticated):
            world.app.authenticate(wrong)


def test_api_keys_are_random_and_only_their_hash_is_stored(world: World, admin: Caller) -> None:
    keys = {world.app.create_account(admin, f"A{i}").api_key for i in range(3)}
    assert len(keys) == 3 and all(len(k) > 40 for k in keys)
    account = rebuilt_from_store(world.app, world.owner_id)
    assert world.owner_key not in repr(vars(account))
    # The secret is everything after the account id; token_urlsafe may itself contain "_".
    secret = world.owner_key.removeprefix("ct_").partition("_")[2]
    assert secret not in repr(vars(account))


def test_an_account_needs_a_name(world: World, admin: Caller) -> None:
    with pytest.raises(Invalid) as error:
        world.app.create_account(admin, "  ")
    assert field_of(error) == "name"


# --- tags, domains, grants --------------------------------------------------------------------

def test_a_tag_is_listed_for_its_owner_and_not_for_others(world: World) -> None:
    assert [str(t.id) for t in world.app.list_tags(world.owner)] == [world.tag_id]
    assert world.app.list_tags(world.other) == []
    with pytest.raises(NotFound):
        world.app.get_tag(world.other, world.tag_id)


def test_the_admin_token_manages_no_tags(world: World, admin: Caller) -> None:
    with pytest.raises(Forbidden):
        world.app.create_tag(admin, "x")
    with pytest.raises(Forbidden):
        world.app.get_tag(admin, world.tag_id)


def test_an_unknown_or_malformed_tag_id_is_not_found(world: World) -> None:
    for tag_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", ""):
        with pytest.raises(NotFound):
            world.app.get_tag(world.owner, tag_id)


def test_a_domain_is_stored_normalised_and_registered_once(world: World) -> None:
    world.app.register_domain(world.owner, world.tag_id, " Shop.Example.COM. ")
    tag = world.app.register_domain(world.owner, world.tag_id, "shop.example.com")
    assert tag.domains == ["shop.example.com"]
    tag = world.app.remove_domain(world.owner, world.tag_id, "SHOP.example.com")
    assert tag.domains == []


# Scenarios with many cases loop inside one test: each PostgreSQL test pays for its own schema.
BAD_DOMAINS = ["", "https://shop.example.com", "shop example.com", "shop", "-bad.example.com",
               "shop.example.com/path", "x" * 64 + ".example.com", "ünïcode.example"]


def test_a_domain_that_is_not_a_host_name_is_refused(world: World) -> None:
    for domain in BAD_DOMAINS:
        with pytest.raises(Invalid) as error:
            world.app.register_domain(world.owner, world.tag_id, domain)
        assert field_of(error) == "domain", domain
    assert world.app.get_tag(world.owner, world.tag_id).domains == []


def test_removing_a_domain_that_is_not_registered_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.app.remove_domain(world.owner, world.tag_id, "nowhere.example")


def test_a_grant_shares_the_tag_and_a_revocation_unshares_it(world: World) -> None:
    world.app.grant_access(world.owner, world.tag_id, world.other_id, "viewer")
    assert [str(t.id) for t in world.app.list_tags(world.other)] == [world.tag_id]
    assert world.app.list_grants(world.other, world.tag_id) == {world.other_id: "viewer"}
    world.app.revoke_access(world.owner, world.tag_id, world.other_id)
    assert world.app.list_tags(world.other) == []
    with pytest.raises(NotFound):
        world.app.get_tag(world.other, world.tag_id)


def test_a_grant_made_with_another_spelling_of_the_id_is_revoked_with_it(world: World) -> None:
    spelled = world.other_id.upper()
    world.app.grant_access(world.owner, world.tag_id, spelled, "editor")
    assert world.app.list_grants(world.owner, world.tag_id) == {world.other_id: "editor"}
    world.app.revoke_access(world.owner, world.tag_id, spelled)
    assert world.app.list_grants(world.owner, world.tag_id) == {}


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_a_grantee_of_any_role_may_leave_the_share(world: World, role: str) -> None:
    world.app.grant_access(world.owner, world.tag_id, world.other_id, role)
    world.app.revoke_access(world.other, world.tag_id, world.other_id.upper())
    assert world.app.list_tags(world.other) == []
    assert world.app.list_grants(world.owner, world.tag_id) == {}
    with pytest.raises(NotFound):  # gone: leaving twice is like leaving a tag never shared
        world.app.revoke_access(world.other, world.tag_id, world.other_id)


def test_a_grantee_below_admin_still_cannot_revoke_another_account(
    world: World, admin: Caller
) -> None:
    third = Caller.account(str(world.app.create_account(admin, "Third").account.id))
    world.app.grant_access(world.owner, world.tag_id, world.other_id, "editor")
    world.app.grant_access(world.owner, world.tag_id, str(third.account_id), "viewer")
    with pytest.raises(Forbidden):
        world.app.revoke_access(world.other, world.tag_id, str(third.account_id))
    with pytest.raises(Forbidden):
        world.app.revoke_access(third, world.tag_id, world.other_id)
    with pytest.raises(NotFound):  # the owner holds no grant to leave
        world.app.revoke_access(world.owner, world.tag_id, world.owner_id)


def test_a_role_change_keeps_one_grant(world: World) -> None:
    other = world.other_id
    world.app.grant_access(world.owner, world.tag_id, other, "viewer")
    world.app.grant_access(world.owner, world.tag_id, other, "admin")
    assert world.app.list_grants(world.owner, world.tag_id) == {other: "admin"}
    assert len(world.app.list_tags(world.other)) == 1


def test_a_grant_names_a_known_account_and_a_real_role(world: World) -> None:
    with pytest.raises(UnknownReference) as unknown:
        world.app.grant_access(world.owner, world.tag_id, "not-an-account", "viewer")
    assert field_of(unknown) == "account_id"
    with pytest.raises(UnknownReference):
        # A real id of something that is not an account is no account either.
        world.app.grant_access(world.owner, world.tag_id, world.tag_id, "viewer")
    with pytest.raises(Invalid) as bad_role:
        world.app.grant_access(world.owner, world.tag_id, world.other_id, "owner")
    assert field_of(bad_role) == "role"


def test_the_owner_cannot_be_granted_a_role_on_its_own_tag(world: World) -> None:
    with pytest.raises(Conflict):
        world.app.grant_access(world.owner, world.tag_id, world.owner_id, "viewer")


def test_revoking_an_account_without_a_grant_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.app.revoke_access(world.owner, world.tag_id, world.other_id)


@pytest.mark.parametrize(("role", "may_edit", "may_administer"), [
    ("viewer", False, False), ("editor", True, False), ("admin", True, True)])
def test_roles_decide_what_a_grantee_may_change(
    world: World, role: str, may_edit: bool, may_administer: bool
) -> None:
    world.app.grant_access(world.owner, world.tag_id, world.other_id, role)

    def attempt(command: Callable[[], object], allowed: bool) -> None:
        if allowed:
            command()
        else:
            with pytest.raises(Forbidden):
                command()

    attempt(lambda: world.app.create_action(world.other, world.tag_id,
                                            {"name": "A", "category": "lead"}), may_edit)
    attempt(lambda: world.app.register_domain(world.other, world.tag_id, "a.example"),
            may_administer)
    world.app.get_tag(world.other, world.tag_id)  # every role reads


def test_a_revoked_grant_takes_effect_on_another_process_at_once(
    world: World, make_container: Callable[[], Container], store: str
) -> None:
    if store == "memory":
        # One in-memory store per container: the second process is the same app here.
        second = world.app
    else:
        second = make_container().management
    other = world.other_id
    world.app.grant_access(world.owner, world.tag_id, other, "admin")
    second.get_tag(world.other, world.tag_id)  # cached by the second process
    world.app.revoke_access(world.owner, world.tag_id, other)
    with pytest.raises(NotFound):
        second.get_tag(world.other, world.tag_id)
    assert second.list_tags(world.other) == []


# --- campaigns --------------------------------------------------------------------------------

def test_a_campaign_is_visible_to_its_owner_only(world: World) -> None:
    campaign = world.app.create_campaign(world.owner, "Spring", "text_ad", "active")
    assert world.app.get_campaign(world.owner, str(campaign.id)) == campaign
    assert [c.id for c in world.app.list_campaigns(world.owner)] == [campaign.id]
    assert world.app.list_campaigns(world.other) == []
    with pytest.raises(NotFound):
        world.app.get_campaign(world.other, str(campaign.id))
    with pytest.raises(NotFound):
        world.app.update_campaign(world.other, str(campaign.id), name="Mine", status=None)
    with pytest.raises(Forbidden):  # the admin token is no account
        world.app.get_campaign(Caller.admin(), str(campaign.id))


BAD_CAMPAIGNS = [
    ("", "text_ad", "active", "name"),
    ("C", "billboard", "active", "type"),
    ("C", "text_ad", "archived", "status"),  # a campaign is created active or paused
    ("C", "text_ad", "running", "status"),
]


def test_a_campaign_with_a_bad_field_is_refused(world: World) -> None:
    for name, kind, status, field in BAD_CAMPAIGNS:
        with pytest.raises(Invalid) as error:
            world.app.create_campaign(world.owner, name, kind, status)
        assert field_of(error) == field, (name, kind, status)
    assert world.app.list_campaigns(world.owner) == []


def test_status_changes_build_the_status_history(world: World) -> None:
    campaign = world.app.create_campaign(world.owner, "Spring", "video_ad", "paused")
    world.app.update_campaign(world.owner, str(campaign.id), name="Summer", status="active")
    updated = world.app.get_campaign(world.owner, str(campaign.id))
    assert (updated.name, updated.status) == ("Summer", "active")
    assert [s for _, s in updated.status_history] == ["paused", "active"]
    assert rebuilt_from_store(world.app, str(campaign.id)) == updated


def test_an_invalid_patch_changes_nothing_not_even_its_valid_part(world: World) -> None:
    campaign = world.app.create_campaign(world.owner, "Spring", "text_ad", "active")
    with pytest.raises(Invalid):
        world.app.update_campaign(world.owner, str(campaign.id), name="Summer", status="bogus")
    assert world.app.get_campaign(world.owner, str(campaign.id)).name == "Spring"
    assert rebuilt_from_store(world.app, str(campaign.id)).name == "Spring"


def test_an_archived_campaign_answers_conflict_to_changes(world: World) -> None:
    campaign = world.app.create_campaign(world.owner, "Spring", "text_ad", "active")
    world.app.update_campaign(world.owner, str(campaign.id), name=None, status="archived")
    with pytest.raises(Conflict):
        world.app.update_campaign(world.owner, str(campaign.id), name="Again", status=None)
    with pytest.raises(Conflict):
        world.app.update_campaign(world.owner, str(campaign.id), name=None, status="active")


def test_the_last_spend_record_for_a_day_wins(world: World) -> None:
    campaign = world.app.create_campaign(world.owner, "Spring", "text_ad", "active")
    day = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    world.app.record_spend(world.owner, str(campaign.id), day, 1_000, "USD")
    world.app.record_spend(world.owner, str(campaign.id), day, 1_500, "USD")
    assert world.app.get_campaign(world.owner, str(campaign.id)).spend == {day: 1_500}
    assert rebuilt_from_store(world.app, str(campaign.id)).spend == {day: 1_500}


BAD_SPEND = [
    ("2026-02-30", 1, "USD", "day", "invalid_date"),
    ("yesterday", 1, "USD", "day", "invalid_date"),
    ("2999-01-01", 1, "USD", "day", "in_future"),
    (None, -1, "USD", "amount_minor", "negative_amount"),
    (None, 1, "usd", "currency", "invalid_currency"),
    (None, 1, "ABC", "currency", "unknown_currency"),
]


def test_bad_spend_is_refused_naming_the_field(world: World) -> None:
    campaign = world.app.create_campaign(world.owner, "Spring", "text_ad", "active")
    for day, amount, currency, field, code in BAD_SPEND:
        day = day or datetime.now(UTC).date().isoformat()
        with pytest.raises(Invalid) as error:
            world.app.record_spend(world.owner, str(campaign.id), day, amount, currency)
        assert (error.value.field, error.value.code) == (field, code)
    assert world.app.get_campaign(world.owner, str(campaign.id)).spend == {}


def test_spend_stays_in_the_campaigns_first_currency(world: World) -> None:
    campaign = world.app.create_campaign(world.owner, "Spring", "text_ad", "active")
    today = datetime.now(UTC).date().isoformat()
    world.app.record_spend(world.owner, str(campaign.id), today, 1, "EUR")
    with pytest.raises(Invalid) as error:
        world.app.record_spend(world.owner, str(campaign.id), today, 1, "USD")
    assert (error.value.field, error.value.code) == ("currency", "currency_mismatch")


def test_spend_after_archiving_is_taken_for_past_days_and_refused_for_later_ones(
    world: World,
) -> None:
    campaign = world.app.create_campaign(world.owner, "Spring", "text_ad", "active")
    world.app.update_campaign(world.owner, str(campaign.id), name=None, status="archived")
    today = datetime.now(UTC).date()
    world.app.record_spend(world.owner, str(campaign.id), today.isoformat(), 5, "USD")
    with pytest.raises(Conflict):
        tomorrow = (today + timedelta(days=1)).isoformat()
        world.app.record_spend(world.owner, str(campaign.id), tomorrow, 5, "USD")


