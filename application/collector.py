"""The collector: decides each browser fire in memory and hands accepted ones to a durable sink.

docs/api.md, Collection: a fire converts when its tag exists and is enabled, the page's host is
a registered domain of the tag, some enabled action matches (or the explicit one is the tag's
and enabled), and a member is named, by the `ct_mid` cookie or else by a click id. Everything
else is dropped and counted by reason. Nothing here touches the database (ADR 0031); the sink
answers once the fire is durable in JetStream (ADR 0032).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from application.collection_model import CollectionModel
from application.fires import (
    ACCEPTED,
    BOT,
    INVALID,
    RATE_LIMITED,
    UNAVAILABLE,
    UNKNOWN_MEMBER,
    Fire,
    FireIn,
    check_fire,
    conversion_event_ids,
)
from application.management_base import Clock, utc_now
from domain.bots import is_crawler
from domain.firing import PageVerdict
from domain.validation import Invalid

# User agents whose crawler check is remembered, and the longest one remembered: at most ~5 MB
# (browsers send 100-300 characters; a longer one is checked each time).
MAX_USER_AGENTS = 10_000
MAX_REMEMBERED_USER_AGENT = 512

# A member id from the `ct_mid` cookie's value at a moment, or None (application/member_tokens).
Identify = Callable[[str | None, datetime], str | None]


class FireSink(Protocol):
    """Where accepted fires go; True once the fire is durable (JetStream acknowledged it)."""

    async def publish(self, fire: Fire) -> bool: ...


@dataclass(frozen=True)
class Verdict:
    """What became of one fire: its outcome, and its tag's id when the tag exists."""

    outcome: str
    tag_id: str | None = None


class Collector:
    """Decides fires against the in-memory catalogue and publishes the accepted ones."""

    def __init__(self, model: CollectionModel, sink: FireSink, identify: Identify,
                 admit_member: Callable[[str], bool], refresh: Callable[[], Awaitable[object]],
                 clock: Clock = utc_now) -> None:
        self.model = model
        self.sink = sink
        self.identify = identify
        self.admit_member = admit_member  # the per-member rate (ADR 0033)
        self.refresh = refresh  # brings the model up to the store's log now
        self.clock = clock
        # Whether a user agent is a crawler, by user agent: a few thousand distinct ones send
        # nearly every fire, and the domain's check reads the whole string each time.
        self._crawlers: dict[str, bool] = {}

    async def collect(self, fire: FireIn | None, user_agent: str | None,
                      member_cookie: str | None) -> Verdict:
        """Decide one fire (None: it could not be decoded) and publish it if it converts."""
        if fire is None:
            return Verdict(INVALID)
        try:
            check_fire(fire)
        except Invalid:
            return Verdict(INVALID)
        if self._is_crawler(user_agent):
            return Verdict(BOT)
        decision = self.model.decide(fire.tag_id, fire.url, fire.action_id)
        tag_id = decision.tag_id
        if decision.outcome != ACCEPTED:
            return Verdict(decision.outcome, tag_id)
        now = self.clock()
        member_id = self.identify(member_cookie, now)
        if member_id is None and fire.click_id is None:
            return Verdict(UNKNOWN_MEMBER, tag_id)
        # A click id stands for its member until the consumer resolves it (ADR 0033).
        if not self.admit_member(member_id if member_id is not None else f"clid:{fire.click_id}"):
            return Verdict(RATE_LIMITED, tag_id)
        assert tag_id is not None
        accepted = Fire(tag_id=tag_id, event_id=fire.event_id, url=fire.url, received_at=now,
                        conversions=conversion_event_ids(fire.event_id, decision.action_ids),
                        member_id=member_id, click_id=fire.click_id, value=fire.value)
        if not await self.sink.publish(accepted):
            return Verdict(UNAVAILABLE, tag_id)
        return Verdict(ACCEPTED, tag_id)

    def _is_crawler(self, user_agent: str | None) -> bool:
        if not user_agent:
            return False
        known = self._crawlers.get(user_agent)
        if known is None:
            known = is_crawler(user_agent)
            if len(user_agent) > MAX_REMEMBERED_USER_AGENT:
                return known
            if len(self._crawlers) >= MAX_USER_AGENTS:
                self._crawlers.clear()  # bounded whatever clients send; refilled in moments
            self._crawlers[user_agent] = known
        return known

    async def judge_page(self, tag_id: str, url: str) -> PageVerdict | None:
        """The tag debugger's verdict: the model's, once it has read the log up to now (so a
        change just made is in it)."""
        await self.refresh()
        return self.model.judge_page(tag_id, url)
