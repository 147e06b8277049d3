"""The collector's catalogue in memory: tags, their domains and owners, actions, campaigns.

Every process that answers `/collect` keeps one, built from the management application's events
in log order (ADR 0031), so a fire is decided without a database query. The decision is the
domain's (`domain.firing`), and the tag debugger asks this same model, so what the debugger
shows is what the collector does. No I/O here: adapters/read_side/collection_follower.py reads
the log and feeds the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from application.fires import (
    ACCEPTED,
    DISABLED_TAG,
    NO_MATCHING_ACTION,
    UNKNOWN_TAG,
    UNREGISTERED_DOMAIN,
)
from domain.account import Account
from domain.campaign import Campaign
from domain.conversion_action import ConversionAction
from domain.firing import DOMAIN_NOT_REGISTERED, PageVerdict, judge_page, judge_track
from domain.insight_tag import InsightTag

# The events the model needs, by topic prefix: every event of tags and actions (their
# aggregates are rebuilt whole), and only the status events of accounts and campaigns.
_WHOLE = (InsightTag.TOPIC + ".", ConversionAction.TOPIC + ".")
_STATUS = frozenset({
    Account.Created.TOPIC, Account.Disabled.TOPIC, Account.Enabled.TOPIC,
    Campaign.Created.TOPIC, Campaign.StatusChanged.TOPIC,
})


_T = TypeVar("_T")


class ModelOutOfStep(Exception):
    """An event does not follow what the model holds: it must be rebuilt from the log."""


@dataclass(frozen=True)
class Decision:
    """What the catalogue says of a fire: `accepted` with the actions it converts for (in the
    tag's order), or why not; `tag_known` says whether the tag exists (for per-tag counts)."""

    outcome: str
    tag_known: bool = False
    action_ids: tuple[str, ...] = ()
    tag_id: str | None = None  # the tag's canonical id, when it exists


class CollectionModel:
    """The part of the catalogue that decides fires; `position` is the management log's last
    notification id applied."""

    def __init__(self) -> None:
        self.position = 0
        self._tags: dict[str, InsightTag] = {}
        self._actions: dict[str, ConversionAction] = {}
        self._disabled_accounts: set[str] = set()
        self._campaign_status: dict[str, str] = {}

    @staticmethod
    def wants(topic: str) -> bool:
        """Whether events of this topic change the model (others are skipped undecoded)."""
        return topic.startswith(_WHOLE) or topic in _STATUS

    def apply(self, event: Any, position: int) -> None:
        """Apply one management event at its notification id (events of other topics only
        advance the position)."""
        if isinstance(event, InsightTag.Event):
            self._mutate(self._tags, event)
        elif isinstance(event, ConversionAction.Event):
            self._mutate(self._actions, event)
        elif isinstance(event, Account.Disabled):
            self._disabled_accounts.add(str(event.originator_id))
        elif isinstance(event, Account.Enabled):
            self._disabled_accounts.discard(str(event.originator_id))
        elif isinstance(event, Campaign.Created | Campaign.StatusChanged):
            self._campaign_status[str(event.originator_id)] = event.status
        self.position = max(self.position, position)

    def skip_to(self, position: int) -> None:
        """Note that the log was read up to `position` (events of other topics change nothing)."""
        self.position = max(self.position, position)

    def adopt(self, other: CollectionModel) -> None:
        """Take another model's whole state (a model rebuilt beside this one), at once."""
        self.__dict__.update(other.__dict__)

    @staticmethod
    def _mutate(aggregates: dict[str, Any], event: Any) -> None:
        key = str(event.originator_id)
        # The library's own replay step: it checks the version follows, so an event missed or
        # applied twice shows up here instead of as a silently wrong catalogue.
        try:
            aggregates[key] = event.mutate(aggregates.get(key))
        except Exception as error:
            raise ModelOutOfStep(f"{type(event).__qualname__} of {key}: {error!r}") from error

    def find_tag(self, tag_id: str) -> InsightTag | None:
        """A tag by id (any spelling of its UUID), or None."""
        return _find(self._tags, tag_id)

    def find_campaign_status(self, campaign_id: str) -> str | None:
        """A campaign's status (active, paused, archived), or None if unknown."""
        return _find(self._campaign_status, campaign_id)

    def is_enabled(self, tag: InsightTag) -> bool:
        """A tag takes fires while it is active and its owning account is not disabled."""
        return tag.status == "active" and tag.owner_account_id not in self._disabled_accounts

    def list_actions(self, tag: InsightTag) -> list[ConversionAction]:
        """The tag's actions, in the order they were added (the debugger's order)."""
        found = (self._actions.get(action_id) for action_id in tag.action_ids)
        return [action for action in found if action is not None]

    def judge_page(self, tag_id: str, url: str) -> PageVerdict | None:
        """The domain's verdict on a page view of `url` for a known tag (the debugger's answer)."""
        tag = self.find_tag(tag_id)
        if tag is None:
            return None
        return judge_page(tag.domains, self.list_actions(tag), url)

    def decide(self, tag_id: str, url: str, action_id: str | None = None) -> Decision:
        """Whether a fire converts, and for which actions (docs/attribution.md: What is never a
        conversion); the member is the collector's business, not the catalogue's."""
        tag = self.find_tag(tag_id)
        if tag is None:
            return Decision(UNKNOWN_TAG)
        known = str(tag.id)
        if not self.is_enabled(tag):
            return Decision(DISABLED_TAG, True, tag_id=known)
        if action_id is None:
            verdict = judge_page(tag.domains, self.list_actions(tag), url)
            if not verdict.domain_registered:
                return Decision(UNREGISTERED_DOMAIN, True, tag_id=known)
            firing = tuple(str(action.id) for action in verdict.list_firing())
            return Decision(ACCEPTED if firing else NO_MATCHING_ACTION, True, firing, known)
        action = _find(self._actions, action_id)
        if action is None or action.tag_id != known:
            return Decision(NO_MATCHING_ACTION, True, tag_id=known)
        tracked = judge_track(tag.domains, action, url)
        if tracked.fires:
            return Decision(ACCEPTED, True, (str(action.id),), known)
        if tracked.failed == DOMAIN_NOT_REGISTERED:
            return Decision(UNREGISTERED_DOMAIN, True, tag_id=known)
        return Decision(NO_MATCHING_ACTION, True, tag_id=known)


def _find(by_id: dict[str, _T], public_id: str) -> _T | None:
    """The entry of a public id: at once when it is spelled canonically (what the tag snippet
    and the API hand out), else by its canonical spelling."""
    found = by_id.get(public_id)
    return found if found is not None else by_id.get(_canonical(public_id))


def _canonical(public_id: str) -> str:
    """Public ids are UUIDs in any spelling; the model keys them canonically."""
    try:
        return str(UUID(public_id))
    except (ValueError, TypeError, AttributeError):
        return public_id
