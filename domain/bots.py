"""Which user agents are crawlers, whose fires are never conversions (docs/api.md: Collection).

A crawler that renders pages runs the tag like a browser; its page views are not a member's
visits. The list names the crawlers that announce themselves, by the token they put in their
user agent, and then the words bot, crawler and spider. It never names a headless browser as
such (`HeadlessChrome`): people test their sites, and run their own pages, in headless browsers,
and what matters is whether a fire names a member, not how the page was rendered.
"""

from __future__ import annotations

import re

# Tokens of the crawlers that fetch advertisers' pages most, as they spell them in their user
# agent (each vendor's documentation); compared case-insensitively anywhere in the header.
CRAWLER_TOKENS = (
    "googlebot", "bingbot", "adsbot-google", "linkedinbot", "facebookexternalhit", "slurp",
    "duckduckbot", "baiduspider", "yandexbot", "applebot",
)

# The generic words, as a word of their own ("compatible; bot") or as the end of one
# ("AhrefsBot/7.0", "MJ12bot", "Bytespider"), but not inside one: "robotics" is no crawler.
_GENERIC = ("bot", "crawler", "spider")
_WORD = re.compile(r"[a-z0-9]+")
# Phones whose model names end in "bot", which the rule above would take for crawlers.
_NOT_CRAWLERS = frozenset({"cubot"})


def is_crawler(user_agent: str | None) -> bool:
    """Whether a user agent announces a crawler (by a listed token or the generic words)."""
    if not user_agent:
        return False
    text = user_agent.lower()
    if any(token in text for token in CRAWLER_TOKENS):
        return True
    return any(word.endswith(_GENERIC) and word not in _NOT_CRAWLERS
               for word in _WORD.findall(text))
