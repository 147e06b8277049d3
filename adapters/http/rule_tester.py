"""The live URL-rule tester (ADR 0036): draft rules of an action being edited, judged against a
page URL by the same rules and in the same order as the tag debugger judges saved actions
(domain/firing.py: judge_action), so the UI never guesses what the collector would do."""

from __future__ import annotations

from adapters.http.schemas import DraftVerdictOut, RuleCheckOut, RuleIn
from domain.firing import DOMAIN_NOT_REGISTERED, NO_RULE_MATCHES, NO_URL_RULES, REASONS
from domain.url_rules import rule_matches
from domain.values import UrlRule


def judge_draft(rules: list[RuleIn], url: str, domain_registered: bool) -> DraftVerdictOut:
    """Whether an enabled action with these rules would fire on `url`, and each rule's test."""
    checks = [RuleCheckOut(rule.match, rule.url, rule_matches(UrlRule(rule.match, rule.url), url))
              for rule in rules]
    matched = next((check for check in checks if check.matches), None)
    if not checks:
        return DraftVerdictOut(False, REASONS[NO_URL_RULES], checks)
    if matched is None:
        return DraftVerdictOut(False, REASONS[NO_RULE_MATCHES], checks)
    if not domain_registered:
        return DraftVerdictOut(False, REASONS[DOMAIN_NOT_REGISTERED], checks)
    return DraftVerdictOut(True, f"rule {matched.match} {matched.url!r} matches", checks)
