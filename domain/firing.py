"""Whether a page view fires a tag's conversion actions, and for each other one which check failed.

docs/attribution.md, "What is never a conversion": only an enabled, non-archived action of the
tag whose URL rules match the page fires, and only on a registered domain of the tag (or a
subdomain of one). The tag debugger answers with this verdict and the collector drops by it
(application/collection_model.py asks it for both).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.conversion_action import ConversionAction
from domain.url_rules import host_is_registered, host_of, rule_matches
from domain.values import UrlRule

# Which check an action failed, in the order they are made, with the words the debugger shows.
ACTION_ARCHIVED = "action_archived"
ACTION_DISABLED = "action_disabled"
NO_URL_RULES = "no_url_rules"
NO_RULE_MATCHES = "no_rule_matches"
DOMAIN_NOT_REGISTERED = "domain_not_registered"

REASONS = {
    ACTION_ARCHIVED: "the action is archived",
    ACTION_DISABLED: "the action is disabled",
    NO_URL_RULES: "the action has no URL rules (server API only)",
    NO_RULE_MATCHES: "no rule of the action matches the URL",
    DOMAIN_NOT_REGISTERED: "the URL's host is not a registered domain",
}


@dataclass(frozen=True)
class ActionVerdict:
    """Whether one action fires for a page URL; `failed` names the check it did not pass."""

    action: ConversionAction
    fires: bool
    reason: str
    matched_rule: UrlRule | None
    failed: str | None = None


@dataclass(frozen=True)
class PageVerdict:
    """What a page view of one URL fires among a tag's actions, and why each other one not."""

    url: str
    host: str | None
    domain_registered: bool
    verdicts: list[ActionVerdict]

    def list_firing(self) -> list[ConversionAction]:
        """The actions the page view fires."""
        return [v.action for v in self.verdicts if v.fires]


def find_refusal(action: ConversionAction) -> str | None:
    """Why an action takes no conversions at all (archived, disabled), or None if it takes them."""
    # The same check, with the same codes, refuses a conversion sent to the server API
    # (application/fact_checks.py): a page fire and a sent conversion are refused alike.
    if action.archived:
        return ACTION_ARCHIVED
    if not action.settings.enabled:
        return ACTION_DISABLED
    return None


def judge_page(domains: Iterable[str], actions: Iterable[ConversionAction], url: str
               ) -> PageVerdict:
    """Which of a tag's actions a page view of `url` fires, and which check each other failed."""
    host = host_of(url)
    registered = host is not None and host_is_registered(host, domains)
    return PageVerdict(url, host, registered,
                       [judge_action(action, url, registered) for action in actions])


def judge_action(action: ConversionAction, url: str, domain_registered: bool) -> ActionVerdict:
    """Whether one action fires for a page URL, given whether its host is a registered domain."""
    rules = [UrlRule(match, rule_url) for match, rule_url in action.settings.rules]
    matched = next((rule for rule in rules if rule_matches(rule, url)), None)
    # The action's own state comes first: an archived or disabled action fires on no page, the
    # most useful thing to tell whoever debugs it; the matching rule is still shown.
    failed = find_refusal(action)
    if failed is None:
        if not rules:
            failed = NO_URL_RULES
        elif matched is None:
            failed = NO_RULE_MATCHES
        elif not domain_registered:
            failed = DOMAIN_NOT_REGISTERED
        else:
            return ActionVerdict(action, True, f"rule {matched.match} {matched.url!r} matches",
                                 matched)
    return ActionVerdict(action, False, REASONS[failed], matched, failed)


def judge_track(domains: Iterable[str], action: ConversionAction, url: str) -> ActionVerdict:
    """Whether an explicit track call for one of the tag's actions converts on `url`.

    docs/api.md, Collection: it converts whatever the action's URL rules say, but only for an
    enabled, non-archived action and only on a registered domain of the tag (or a subdomain).
    """
    host = host_of(url)
    failed = find_refusal(action)
    if failed is None and (host is None or not host_is_registered(host, domains)):
        failed = DOMAIN_NOT_REGISTERED
    if failed is None:
        return ActionVerdict(action, True, "an explicit track call for the action", None)
    return ActionVerdict(action, False, REASONS[failed], None, failed)
