"""The ConversionAction aggregate: what counts as a conversion for a tag, and how it is credited."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.validation import (
    Invalid,
    check_amount,
    check_currency,
    check_one_of,
    check_text,
    check_window,
)
from domain.values import (
    ATTRIBUTION_MODELS,
    CATEGORIES,
    COUNTINGS,
    MATCH_KINDS,
    VALUE_MODES,
)

MAX_RULES = 50
MAX_URL_LENGTH = 2048
MAX_LINKED_CAMPAIGNS = 1000


class ActionError(Exception):
    """Base of the ConversionAction guards' errors."""


class ActionArchived(ActionError):
    """Archived actions are kept for history and never edited (docs/api.md: 409)."""


@dataclass(frozen=True)
class ActionSettings:
    """Every setting of an action (docs/api.md), validated as a whole."""

    name: str
    category: str
    rules: tuple[tuple[str, str], ...]
    value_mode: str
    value: tuple[int, str] | None
    click_window_days: int
    view_window_days: int
    counting: str
    attribution: str
    campaign_ids: tuple[str, ...]
    enabled: bool

    def check(self) -> ActionSettings:
        """Validate and normalise; raises Invalid naming the field."""
        name = check_text(self.name, "name")
        check_one_of(self.category, CATEGORIES, "category")
        if len(self.rules) > MAX_RULES:
            raise Invalid("rules", "too_many", f"at most {MAX_RULES} rules per action")
        for i, (match, url) in enumerate(self.rules):
            check_rule(match, url, f"rules[{i}]")
        check_one_of(self.value_mode, VALUE_MODES, "value_mode")
        if self.value is not None:
            check_amount(self.value[0], "value.amount_minor")
            check_currency(self.value[1], "value.currency")
        elif self.value_mode == "fixed":
            raise Invalid("value", "required", "value_mode 'fixed' needs a value")
        check_window(self.click_window_days, self.category, "click_window_days")
        check_window(self.view_window_days, self.category, "view_window_days")
        check_one_of(self.counting, COUNTINGS, "counting")
        check_one_of(self.attribution, ATTRIBUTION_MODELS, "attribution")
        if len(self.campaign_ids) > MAX_LINKED_CAMPAIGNS:
            raise Invalid("campaign_ids", "too_many", "too many linked campaigns")
        # Linking a campaign twice would give it two credits per conversion: keep it once.
        campaign_ids = tuple(dict.fromkeys(self.campaign_ids))
        return replace(self, name=name, campaign_ids=campaign_ids)

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain data, for events and responses."""
        return {
            "name": self.name,
            "category": self.category,
            "rules": [{"match": m, "url": u} for m, u in self.rules],
            "value_mode": self.value_mode,
            "value": None if self.value is None
            else {"amount_minor": self.value[0], "currency": self.value[1]},
            "click_window_days": self.click_window_days,
            "view_window_days": self.view_window_days,
            "counting": self.counting,
            "attribution": self.attribution,
            "campaign_ids": list(self.campaign_ids),
            "enabled": self.enabled,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionSettings:
        """Inverse of as_dict (used when replaying events)."""
        value = data["value"]
        return cls(
            name=data["name"],
            category=data["category"],
            rules=tuple((r["match"], r["url"]) for r in data["rules"]),
            value_mode=data["value_mode"],
            value=None if value is None else (value["amount_minor"], value["currency"]),
            click_window_days=data["click_window_days"],
            view_window_days=data["view_window_days"],
            counting=data["counting"],
            attribution=data["attribution"],
            campaign_ids=tuple(data["campaign_ids"]),
            enabled=data["enabled"],
        )


def check_rule(match: str, url: str, field: str) -> None:
    """A rule is a match kind and a non-empty URL text; whole-URL kinds need an absolute URL."""
    check_one_of(match, MATCH_KINDS, f"{field}.match")
    if not url.strip():
        raise Invalid(f"{field}.url", "empty", "a rule needs a URL")
    if len(url) > MAX_URL_LENGTH:
        raise Invalid(f"{field}.url", "too_long", f"URLs are at most {MAX_URL_LENGTH} characters")
    if match in ("exact", "starts_with") and not url.lower().startswith(("http://", "https://")):
        raise Invalid(
            f"{field}.url", "not_absolute",
            f"an {match!r} rule compares whole URLs, so it must start with http:// or https://",
        )


def merge_settings(settings: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The settings after a change event: the fields it names replaced, every other one kept."""
    # A change event holds only the fields it changed (see _CHANGE_GROUPS), so a merge, not a
    # replacement: the aggregate and the attribution projection both apply changes this way.
    return dict(settings) | dict(changes)


# Which event records a change of which settings; one event per concern keeps the audit readable.
_CHANGE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Renamed", ("name",)),
    ("CategoryChanged", ("category",)),
    ("RulesChanged", ("rules",)),
    ("ValueChanged", ("value_mode", "value")),
    ("WindowsChanged", ("click_window_days", "view_window_days")),
    ("CountingChanged", ("counting",)),
    ("AttributionChanged", ("attribution",)),
    ("CampaignsLinked", ("campaign_ids",)),
    ("EnabledChanged", ("enabled",)),
)


class ConversionAction(Aggregate):
    """A conversion action of an insight tag.

    Invariants: its settings always pass `ActionSettings.check` as a whole (e.g. a category change
    cannot leave a 365-day window behind); an archived action never changes again.
    """

    TOPIC = "convtrack:ConversionAction"

    class Event(Aggregate.Event):
        actor: str
        occurred_at: datetime

    class Created(Event, Aggregate.Created):
        TOPIC = "convtrack:ConversionAction.Created"
        tag_id: str
        settings: dict[str, Any]

    class SettingsChanged(Event):
        """Base of the per-concern change events; `changes` holds only the fields it names."""

        TOPIC = "convtrack:ConversionAction.SettingsChanged"  # never recorded itself
        changes: dict[str, Any]

        def apply(self, aggregate: ConversionAction) -> None:
            merged = merge_settings(aggregate.settings.as_dict(), self.changes)
            aggregate.settings = ActionSettings.from_dict(merged)

    class Renamed(SettingsChanged):
        TOPIC = "convtrack:ConversionAction.Renamed"

    class CategoryChanged(SettingsChanged):
        TOPIC = "convtrack:ConversionAction.CategoryChanged"

    class RulesChanged(SettingsChanged):
        TOPIC = "convtrack:ConversionAction.RulesChanged"

    class ValueChanged(SettingsChanged):
        TOPIC = "convtrack:ConversionAction.ValueChanged"

    class WindowsChanged(SettingsChanged):
        TOPIC = "convtrack:ConversionAction.WindowsChanged"

    class CountingChanged(SettingsChanged):
        TOPIC = "convtrack:ConversionAction.CountingChanged"

    class AttributionChanged(SettingsChanged):
        TOPIC = "convtrack:ConversionAction.AttributionChanged"

    class CampaignsLinked(SettingsChanged):
        TOPIC = "convtrack:ConversionAction.CampaignsLinked"

    class EnabledChanged(SettingsChanged):
        TOPIC = "convtrack:ConversionAction.EnabledChanged"

    class Archived(Event):
        TOPIC = "convtrack:ConversionAction.Archived"

    @event(Created)
    def __init__(
        self, tag_id: str, settings: dict[str, Any], actor: str, occurred_at: datetime
    ) -> None:
        self.tag_id = tag_id
        self.settings = ActionSettings.from_dict(settings)
        self.archived = False

    @classmethod
    def define(
        cls, tag_id: str, settings: ActionSettings, actor: str, occurred_at: datetime
    ) -> ConversionAction:
        """Create an action from settings that are checked first."""
        return cls(tag_id=tag_id, settings=settings.check().as_dict(), actor=actor,
                   occurred_at=occurred_at)

    @property
    def status(self) -> str:
        """archived, enabled or disabled."""
        if self.archived:
            return "archived"
        return "enabled" if self.settings.enabled else "disabled"

    def check_not_archived(self) -> None:
        """Archived actions keep their history and take no edits."""
        if self.archived:
            raise ActionArchived(str(self.id))

    def change(self, proposed: ActionSettings, actor: str, occurred_at: datetime) -> None:
        """Apply new settings, recording one event per concern that actually changed."""
        self.check_not_archived()
        new = proposed.check().as_dict()
        old = self.settings.as_dict()
        for event_name, fields in _CHANGE_GROUPS:
            changes = {f: new[f] for f in fields if new[f] != old[f]}
            if changes:
                event_class = getattr(self, event_name)
                self.trigger_event(event_class, changes=changes, actor=actor,
                                   occurred_at=occurred_at)

    def archive(self, actor: str, occurred_at: datetime) -> None:
        """Archive the action: it stops matching fires; its conversions stay."""
        self.check_not_archived()
        self._archive(actor, occurred_at)

    @event(Archived)
    def _archive(self, actor: str, occurred_at: datetime) -> None:
        self.archived = True
