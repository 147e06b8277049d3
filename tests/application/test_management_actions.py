"""The management application's conversion actions, on the in-memory store and on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from application.access import Caller
from application.errors import Conflict, NotFound, UnknownReference
from domain.validation import Invalid
from domain.values import CATEGORIES, EACH_COUNTING_CATEGORIES
from tests.application.support import rebuilt_from_store
from tests.application.management_world import World, field_of, world  # noqa: F401  (world is a fixture)


# --- conversion actions -----------------------------------------------------------------------

def test_a_new_action_gets_the_defaults_of_its_category(world: World) -> None:
    for category in CATEGORIES:
        action = world.app.create_action(world.owner, world.tag_id,
                                         {"name": "A", "category": category})
        s = action.settings
        expected_counting = "each" if category in EACH_COUNTING_CATEGORIES else "one"
        assert (s.counting, s.click_window_days, s.view_window_days) == (
            expected_counting, 30, 7), category
        assert (s.value_mode, s.value, s.attribution, s.enabled, s.rules, s.campaign_ids) == (
            "dynamic", None, "last_touch_each_campaign", True, (), ())


def test_an_action_is_listed_under_its_tag_and_rebuilt_from_the_store(world: World) -> None:
    campaign = world.app.create_campaign(world.owner, "C", "text_ad", "active")
    action = world.app.create_action(world.owner, world.tag_id, {
        "name": "Buy", "category": "purchase",
        "rules": [{"match": "starts_with", "url": "https://shop.example/thanks"}],
        "value_mode": "fixed", "value": {"amount_minor": 999, "currency": "EUR"},
        "click_window_days": 365, "view_window_days": 1, "counting": "one",
        "attribution": "last_touch_last_campaign", "campaign_ids": [str(campaign.id)],
        "enabled": False})
    assert [a.id for a in world.app.list_actions(world.owner, world.tag_id)] == [action.id]
    assert [a.id for a in world.app.list_actions(world.owner, None)] == [action.id]
    assert world.app.get_action(world.owner, str(action.id)) == action
    assert rebuilt_from_store(world.app, str(action.id)) == action
    assert action.status == "disabled"


def test_an_action_of_an_invisible_tag_is_not_found(world: World) -> None:
    action = world.app.create_action(world.owner, world.tag_id, {"name": "A", "category": "lead"})
    with pytest.raises(NotFound):
        world.app.get_action(world.other, str(action.id))
    with pytest.raises(UnknownReference) as unknown_tag:  # the tag is named in the body
        world.app.create_action(world.other, world.tag_id, {"name": "A", "category": "lead"})
    assert field_of(unknown_tag) == "tag_id"
    with pytest.raises(NotFound):
        world.app.list_actions(world.other, world.tag_id)
    assert world.app.list_actions(world.other, None) == []


BAD_ACTIONS: list[tuple[dict[str, Any], str]] = [
    ({"category": "download", "click_window_days": 365}, "click_window_days"),
    ({"category": "contact", "view_window_days": 365}, "view_window_days"),
    ({"category": "lead", "click_window_days": 14}, "click_window_days"),
    ({"category": "lead", "value_mode": "fixed"}, "value"),
    ({"category": "lead", "value": {"amount_minor": -1, "currency": "USD"}}, "value.amount_minor"),
    ({"category": "lead", "value": {"amount_minor": 1, "currency": "XXY"}}, "value.currency"),
    ({"category": "lead", "rules": [{"match": "exact", "url": "thanks"}]}, "rules[0].url"),
    ({"category": "lead", "name": " "}, "name"),
]


def test_an_invalid_action_is_refused_naming_the_field(world: World) -> None:
    for fields, field in BAD_ACTIONS:
        with pytest.raises(Invalid) as error:
            world.app.create_action(world.owner, world.tag_id, {"name": "A"} | fields)
        assert field_of(error) == field, fields
    assert world.app.list_actions(world.owner, world.tag_id) == []


def test_an_action_links_only_campaigns_of_the_editor_or_the_tag_owner(world: World) -> None:
    other = world.other_id
    world.app.grant_access(world.owner, world.tag_id, other, "editor")
    third = world.app.create_account(Caller.admin(), "Third")
    third_caller = Caller.account(str(third.account.id))
    owners = world.app.create_campaign(world.owner, "Owner's", "text_ad", "active")
    editors = world.app.create_campaign(world.other, "Editor's", "text_ad", "active")
    strangers = world.app.create_campaign(third_caller, "Stranger's", "text_ad", "active")
    action = world.app.create_action(world.other, world.tag_id, {
        "name": "A", "category": "lead", "campaign_ids": [str(owners.id), str(editors.id)]})
    with pytest.raises(UnknownReference) as error:
        world.app.update_action(world.other, str(action.id), {"campaign_ids": [
            str(owners.id), str(editors.id), str(strangers.id)]})
    assert field_of(error) == "campaign_ids[2]"
    with pytest.raises(UnknownReference) as unknown:
        world.app.create_action(world.owner, world.tag_id, {
            "name": "B", "category": "lead", "campaign_ids": ["nope"]})
    assert field_of(unknown) == "campaign_ids[0]"
    # The owner may keep a link an editor made to the editor's own campaign, and drop it.
    world.app.update_action(world.owner, str(action.id), {"name": "Renamed"})
    kept = world.app.update_action(world.owner, str(action.id), {"campaign_ids": [
        str(editors.id), str(owners.id)]})
    assert kept.settings.campaign_ids == (str(editors.id), str(owners.id))
    dropped = world.app.update_action(world.owner, str(action.id), {"campaign_ids": [
        str(owners.id)]})
    assert dropped.settings.campaign_ids == (str(owners.id),)
    with pytest.raises(UnknownReference):  # once dropped, it is the owner's to add: refused
        world.app.update_action(world.owner, str(action.id), {"campaign_ids": [
            str(owners.id), str(editors.id)]})


def test_an_update_is_validated_against_the_whole_resulting_settings(world: World) -> None:
    action = world.app.create_action(world.owner, world.tag_id, {
        "name": "A", "category": "purchase", "click_window_days": 365})
    with pytest.raises(Invalid) as error:
        world.app.update_action(world.owner, str(action.id), {"category": "download"})
    assert field_of(error) == "click_window_days"
    updated = world.app.update_action(world.owner, str(action.id), {
        "category": "download", "click_window_days": 90})
    assert (updated.settings.category, updated.settings.click_window_days) == ("download", 90)
    # A category change keeps the counting the action has (explicit settings are not reset).
    assert updated.settings.counting == "each"


def test_the_tag_of_an_action_cannot_be_changed(world: World) -> None:
    action = world.app.create_action(world.owner, world.tag_id, {"name": "A", "category": "lead"})
    with pytest.raises(Invalid) as error:
        world.app.update_action(world.owner, str(action.id), {"tag_id": world.tag_id})
    assert field_of(error) == "tag_id"


def test_an_archived_action_refuses_edits_and_a_second_archive(world: World) -> None:
    action = world.app.create_action(world.owner, world.tag_id, {"name": "A", "category": "lead"})
    archived = world.app.archive_action(world.owner, str(action.id))
    assert archived.status == "archived"
    with pytest.raises(Conflict):
        world.app.update_action(world.owner, str(action.id), {"name": "B"})
    with pytest.raises(Conflict):
        world.app.archive_action(world.owner, str(action.id))
    assert world.app.get_action(world.owner, str(action.id)).settings.name == "A"


def test_the_debugger_says_which_actions_fire_and_why_the_others_do_not(world: World) -> None:
    app, owner, tag_id = world.app, world.owner, world.tag_id
    app.register_domain(owner, tag_id, "shop.example")
    url = "https://www.shop.example/thanks?order=1"
    fires = app.create_action(owner, tag_id, {"name": "Fires", "category": "purchase", "rules": [
        {"match": "starts_with", "url": "https://www.shop.example/thanks"}]})
    misses = app.create_action(owner, tag_id, {"name": "Misses", "category": "lead", "rules": [
        {"match": "exact", "url": "https://www.shop.example/thanks"}]})
    server_only = app.create_action(owner, tag_id, {"name": "API", "category": "lead"})
    disabled = app.create_action(owner, tag_id, {"name": "Off", "category": "lead", "enabled": False,
                                                 "rules": [{"match": "contains", "url": "/thanks"}]})
    archived = app.create_action(owner, tag_id, {"name": "Old", "category": "lead",
                                                 "rules": [{"match": "contains", "url": "/thanks"}]})
    app.archive_action(owner, str(archived.id))
    debug = app.debug_url(owner, tag_id, url)
    assert (debug.host, debug.domain_registered) == ("www.shop.example", True)
    verdicts = {v.action.id: v for v in debug.verdicts}
    assert verdicts[fires.id].fires
    assert not any(verdicts[a.id].fires for a in (misses, server_only, disabled, archived))
    assert "no rule" in verdicts[misses.id].reason
    assert "server" in verdicts[server_only.id].reason
    assert "disabled" in verdicts[disabled.id].reason
    assert "archived" in verdicts[archived.id].reason
    unregistered = app.debug_url(owner, tag_id, "https://elsewhere.example/thanks")
    assert not unregistered.domain_registered
    assert not any(v.fires for v in unregistered.verdicts)


def test_the_debugger_is_open_to_viewers_and_closed_to_strangers(world: World) -> None:
    with pytest.raises(NotFound):
        world.app.debug_url(world.other, world.tag_id, "https://x.example/")
    world.app.grant_access(world.owner, world.tag_id, world.other_id, "viewer")
    world.app.debug_url(world.other, world.tag_id, "https://x.example/")


def test_every_command_records_its_actor(world: World) -> None:
    other = world.other_id
    world.app.grant_access(world.owner, world.tag_id, other, "admin")
    world.app.register_domain(world.other, world.tag_id, "shop.example")
    tag = rebuilt_from_store(world.app, world.tag_id)
    assert tag.domains == ["shop.example"]
    stored = world.app.recorder.select_events(tag.id)
    events: list[Any] = [world.app.mapper.to_domain_event(s) for s in stored]
    assert [(type(e).__name__, e.actor) for e in events] == [
        ("Created", world.owner.actor), ("AccessGranted", world.owner.actor),
        ("DomainRegistered", f"account:{other}")]
    assert all(e.occurred_at.tzinfo is not None for e in events)


def test_concurrent_commands_on_one_aggregate_all_take_effect(world: World) -> None:
    # Eight tags created at once by one account all append to the account: the losers of the
    # optimistic-concurrency race are re-run, not answered with an error.
    errors: list[Exception] = []

    def create(i: int) -> None:
        try:
            world.app.create_tag(world.owner, f"tag {i}")
            world.app.register_domain(world.owner, world.tag_id, f"d{i}.example")
        except Exception as error:  # collected, so the assertion shows every failure
            errors.append(error)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(world.app.list_tags(world.owner)) == 9
    assert len(world.app.get_tag(world.owner, world.tag_id).domains) == 8

