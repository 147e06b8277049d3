"""`GET /v1/choices`: the settings' vocabularies and which combinations are allowed, so clients
(the web UI, ADR 0036) offer exactly what the domain accepts instead of copying its rules."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import get

from application.access import Caller
from domain.validation import Invalid, check_window
from domain.values import (
    ATTRIBUTION_MODELS,
    CAMPAIGN_STATUSES,
    CAMPAIGN_TYPES,
    CATEGORIES,
    COUNTINGS,
    DEFAULT_CLICK_WINDOW_DAYS,
    DEFAULT_VIEW_WINDOW_DAYS,
    MATCH_KINDS,
    ROLES,
    VALUE_MODES,
    WINDOW_DAYS,
    default_counting,
)
from projections.reporting import GROUP_KEYS


class CategoryChoice(msgspec.Struct):
    """A category, the windows it allows and the counting its actions default to."""

    category: str
    window_days: list[int]  # allowed for click_window_days and view_window_days alike
    default_counting: str


class ChoicesOut(msgspec.Struct):
    """Every vocabulary of the settings, in the order a form offers them."""

    categories: list[CategoryChoice]
    match_kinds: list[str]
    value_modes: list[str]
    countings: list[str]
    attribution_models: list[str]
    default_click_window_days: int
    default_view_window_days: int
    campaign_types: list[str]
    campaign_statuses: list[str]
    roles: list[str]
    report_group_by: list[str]


def _allowed(days: int, category: str) -> bool:
    # The guard itself decides (domain/validation.py), so this list cannot drift from it.
    try:
        check_window(days, category, "click_window_days")
    except Invalid:
        return False
    return True


def _choices() -> ChoicesOut:
    return ChoicesOut(
        categories=[CategoryChoice(c, [d for d in WINDOW_DAYS if _allowed(d, c)],
                                   default_counting(c)) for c in CATEGORIES],
        match_kinds=list(MATCH_KINDS), value_modes=list(VALUE_MODES),
        countings=list(COUNTINGS), attribution_models=list(ATTRIBUTION_MODELS),
        default_click_window_days=DEFAULT_CLICK_WINDOW_DAYS,
        default_view_window_days=DEFAULT_VIEW_WINDOW_DAYS,
        campaign_types=list(CAMPAIGN_TYPES), campaign_statuses=list(CAMPAIGN_STATUSES),
        roles=list(ROLES), report_group_by=list(GROUP_KEYS))


CHOICES = _choices()


@get("/v1/choices", sync_to_thread=False, tags=["operations"],
     summary="The settings' allowed values, and the windows each category allows")
def list_choices(caller: Caller) -> ChoicesOut:
    """Categories with their allowed windows and default counting, and every other vocabulary
    of actions, campaigns, roles and report groupings."""
    return CHOICES


CHOICES_ROUTES: list[Any] = [list_choices]
