"""Value objects and vocabularies shared by the aggregates and the policies.

Events store plain strings, ints and dicts (not enums or classes) so that stored history stays
readable and independent of Python types; these tuples are the allowed vocabularies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

ROLES = ("viewer", "editor", "admin")
Role = Literal["viewer", "editor", "admin"]

CAMPAIGN_TYPES = ("sponsored_content", "text_ad", "message_ad", "video_ad", "other")
CAMPAIGN_STATUSES = ("active", "paused", "archived")

CATEGORIES = (
    "add_to_cart", "book_appointment", "contact", "download", "install", "key_page_view", "lead",
    "purchase", "qualified_lead", "request_quote", "sign_up", "start_checkout", "start_trial",
    "submit_application", "subscribe", "view_content", "other",
)
MATCH_KINDS = ("exact", "starts_with", "contains")
VALUE_MODES = ("dynamic", "fixed", "none")
COUNTINGS = ("each", "one")
LAST_TOUCH_MODELS = ("last_touch_each_campaign", "last_touch_last_campaign")
# docs/attribution.md, Fractional models: the credit is shared along a path of touches.
FRACTIONAL_MODELS = ("first_touch", "linear", "time_decay", "position_based")
ATTRIBUTION_MODELS = (*LAST_TOUCH_MODELS, *FRACTIONAL_MODELS)
WINDOW_DAYS = (1, 7, 30, 90, 365)
TOUCH_KINDS = ("impression", "click")
CONVERSION_SOURCES = ("tag", "api")

# docs/attribution.md / docs/api.md: 365-day windows only for these categories.
LONG_WINDOW_CATEGORIES = frozenset(
    {"lead", "qualified_lead", "purchase", "add_to_cart", "submit_application"}
)
# docs/attribution.md, Counting: "each" is the default for these, "one" for all others.
EACH_COUNTING_CATEGORIES = frozenset({"purchase", "add_to_cart"})

DEFAULT_CLICK_WINDOW_DAYS = 30
DEFAULT_VIEW_WINDOW_DAYS = 7

# docs/attribution.md, Rejected input.
MAX_FUTURE_SKEW = timedelta(minutes=10)
MAX_CONVERSION_AGE = timedelta(days=90)
MAX_TOUCH_AGE = timedelta(days=400)


@dataclass(frozen=True)
class Money:
    """An amount in minor units of an ISO 4217 currency."""

    amount_minor: int
    currency: str

    def as_dict(self) -> dict[str, Any]:
        return {"amount_minor": self.amount_minor, "currency": self.currency}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Money | None:
        if data is None:
            return None
        return cls(int(data["amount_minor"]), str(data["currency"]))


@dataclass(frozen=True)
class UrlRule:
    """One URL match rule of a conversion action."""

    match: str
    url: str

    def as_dict(self) -> dict[str, str]:
        return {"match": self.match, "url": self.url}


def default_counting(category: str) -> str:
    """The counting mode a new action of this category gets when none is given."""
    return "each" if category in EACH_COUNTING_CATEGORIES else "one"
