"""URL rules of conversion actions and the registered domains of a tag.

docs/attribution.md, "What is never a conversion": the scheme and host compare
case-insensitively and the ``#fragment`` is ignored; everything else is literal and
case-sensitive. ``exact`` is equality of the whole URL; ``starts_with`` and ``contains`` are plain
string tests on the whole URL, query string included. Pure functions: the collector, the
aggregates' guards and the debug endpoint share them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from domain.values import MATCH_KINDS, UrlRule

WEB_SCHEMES = frozenset({"http", "https"})
NOT_A_HOSTNAME = "not_a_hostname"

# RFC 1123 host labels: letters, digits and inner hyphens, 1-63 characters (checked lower-cased).
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_HOSTNAME_LENGTH = 253


# The collector judges every fire against each rule of each of the tag's actions: the rules'
# patterns repeat on every fire, and the page's URL once per rule (ADR 0031). Bounded, since
# page URLs are whatever pages send.
@lru_cache(maxsize=1024)
def normalise_url(url: str) -> str:
    """Lower-case the scheme and host and drop the fragment; keep everything else literally."""
    head = url.partition("#")[0]
    try:
        parts = urlsplit(head)
    except ValueError:
        # An unparseable authority (an unclosed IPv6 bracket): there is no host to lower-case.
        return head
    if not parts.netloc:
        # No authority, so no host: a relative URL or a piece of one (a `contains` rule such as
        # "Page:One" must not have its "scheme" lower-cased), kept literally.
        return head
    userinfo, at, host_and_port = parts.netloc.rpartition("@")
    rebuilt = urlunsplit((parts.scheme.lower(), userinfo + at + host_and_port.lower(),
                          parts.path, parts.query, ""))
    # urlunsplit drops an empty query's "?", but "/thanks?" and "/thanks" are different URLs.
    if "?" in head and not parts.query:
        rebuilt += "?"
    return rebuilt


def rule_matches(rule: UrlRule, url: str) -> bool:
    """Whether one URL rule matches a page URL."""
    if rule.match not in MATCH_KINDS:
        raise ValueError(f"unknown match kind: {rule.match!r}")
    pattern = normalise_url(rule.url)
    if not pattern:
        # An empty pattern (or one that was only a fragment) would match every page: match none.
        return False
    page = normalise_url(url)
    if rule.match == "exact":
        return page == pattern
    if rule.match == "starts_with":
        return page.startswith(pattern)
    return pattern in page


def matches_any(rules: Iterable[UrlRule], url: str) -> bool:
    """Whether any of an action's rules matches (docs/api.md: any rule matching is enough)."""
    return any(rule_matches(rule, url) for rule in rules)


def explain_rules(rules: Iterable[UrlRule], url: str) -> list[tuple[UrlRule, bool]]:
    """Each rule with whether it matches the URL, in the given order, for the debug endpoint."""
    return [(rule, rule_matches(rule, url)) for rule in rules]


def host_of(url: str) -> str | None:
    """The normalised host of an http(s) URL, or None when it has no web scheme or no host."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in WEB_SCHEMES or not host:
        return None
    return normalise_domain(host)


def host_is_registered(host: str, domains: Iterable[str]) -> bool:
    """Whether a host is a registered domain or a subdomain of one."""
    candidate = normalise_domain(host)
    if not candidate:
        return False
    for domain in map(normalise_domain, domains):
        # Compare whole labels: "shop.example.com" is under "example.com", "badexample.com" is not.
        if domain and (candidate == domain or candidate.endswith("." + domain)):
            return True
    return False


def normalise_domain(domain: str) -> str:
    """A domain as stored and compared: trimmed, lower-case, without the root's trailing dot."""
    return domain.strip().lower().removesuffix(".")


def check_domain(domain: str) -> str | None:
    """A reason code when the text is not a DNS hostname (ASCII; IDNs in punycode), else None."""
    name = normalise_domain(domain)
    if not name or len(name) > _MAX_HOSTNAME_LENGTH:
        return NOT_A_HOSTNAME
    labels = name.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return NOT_A_HOSTNAME
    # A bare label would cover every single-label host; only "localhost" is a useful one.
    if len(labels) < 2 and name != "localhost":
        return NOT_A_HOSTNAME
    return None
