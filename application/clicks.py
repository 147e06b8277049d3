"""Click URLs: issued signed and stateless, followed into one click touch (ADR 0030).

`create_click` stores nothing: everything the click needs travels in its token, signed for the
`click` purpose (application/member_tokens.py), so a member token never opens as a click. The
click id is also the click touch's `event_id`, which makes following idempotent (the ingestion
application records an `event_id` once) and lets a conversion or a fire carrying the click id
(`ct_clid`) resolve to the click's member the way every recorded click id resolves
(application/fact_checks.py `resolve_click_ids`).
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from application.access import Caller
from application.errors import Conflict, Forbidden, NotFound, UnknownReference
from application.facts import TouchIn
from application.ingestion import IngestionApp
from application.management import ManagementApp
from application.management_base import Clock, utc_now
from application.member_tokens import IssuedToken, SignedTokens
from domain.campaign import Campaign
from domain.firing import find_refusal
from domain.landing_urls import add_click_id, check_landing_allowed, check_landing_url
from domain.validation import Invalid, check_identifier

log = logging.getLogger("convtrack.clicks")

# An ad's click URL is made when the ad is shown, for the member it is shown to; a month
# covers an email or a tab opened days later, and bounds how long a leaked URL works.
CLICK_TOKEN_TTL = timedelta(days=30)
RECORDED, REPEATED, REJECTED = "recorded", "repeated", "rejected"
NOT_RECORDED = "not_recorded"  # the store was unreachable
_FORMAT = 1  # the first item of a click token's payload


class ClickNotFound(NotFound):
    """An unknown, tampered or expired click URL, or one whose landing URL is no longer allowed."""


@dataclass(frozen=True)
class Click:
    """What a click URL carries, signed."""

    click_id: str  # also the click touch's event_id
    member_id: str
    campaign_id: str
    landing_url: str


@dataclass(frozen=True)
class IssuedClick:
    """A new click URL's token, its click id and when it stops working."""

    click_id: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class FollowedClick:
    """Where to send the browser, for which member, and what became of the click touch."""

    click: Click
    redirect_url: str
    outcome: str  # RECORDED, REPEATED, REJECTED or NOT_RECORDED


class ClickTokens:
    """Clicks signed with the `click` purpose: no other token of convtrack opens as one."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._tokens = SignedTokens(keys, "click")

    @classmethod
    def with_random_key(cls) -> ClickTokens:
        """Tokens that only this object verifies (tests, in-memory services)."""
        return cls([secrets.token_bytes(32)])

    def issue(self, click: Click, now: datetime, ttl: timedelta = CLICK_TOKEN_TTL
              ) -> IssuedToken:
        """The token of a click, valid from `now` for `ttl`."""
        fields = [_FORMAT, click.click_id, click.member_id, click.campaign_id, click.landing_url]
        payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode()
        return self._tokens.sign(payload, now + ttl)

    def open(self, token: str | None, now: datetime) -> Click | None:
        """The click of a valid token; None when missing, malformed, forged or expired."""
        payload = self._tokens.open(token, now)
        if payload is None:
            return None
        try:
            fields = json.loads(payload)
        except ValueError:
            return None
        if (not isinstance(fields, list) or len(fields) != 5 or fields[0] != _FORMAT
                or not all(isinstance(f, str) for f in fields[1:])):
            return None
        return Click(*fields[1:])


class ClickLinks:
    """Makes click URLs for the ad platform and follows them for browsers."""

    def __init__(
        self, catalogue: ManagementApp, ingestion: IngestionApp, tokens: ClickTokens,
        unavailable: tuple[type[Exception], ...] = (), clock: Clock = utc_now,
    ) -> None:
        self.catalogue = catalogue
        self.ingestion = ingestion
        self.tokens = tokens
        self.unavailable = unavailable  # the store's "not now" errors, given by the root
        self.clock = clock

    def create_click(self, caller: Caller, member_id: str, campaign_id: str, landing_url: str,
                     event_id: str | None = None) -> IssuedClick:
        """A click URL's token for a member and campaign (admin); nothing is recorded yet."""
        if not caller.is_admin:
            raise Forbidden("click URLs are made by the ad platform with the admin token")
        check_identifier(member_id, "member_id")
        if event_id is not None:
            check_identifier(event_id, "event_id")
        check_landing_url(landing_url)
        campaign = self.catalogue.find_campaign(campaign_id)
        if campaign is None:
            raise UnknownReference(f"no campaign {campaign_id!r}", field="campaign_id")
        if campaign.status == "archived":
            raise Conflict("the campaign is archived", field="campaign_id")
        check_landing_allowed(landing_url, self.list_landing_domains(campaign))
        click = Click(event_id or str(uuid.uuid4()), member_id, str(campaign.id), landing_url)
        issued = self.tokens.issue(click, self.clock())
        return IssuedClick(click.click_id, issued.token, issued.expires_at)

    def follow_click(self, token: str) -> FollowedClick:
        """Record a click URL's touch once and say where to redirect; ClickNotFound if none."""
        now = self.clock()
        click = self.tokens.open(token, now)
        if click is None:
            raise ClickNotFound("no such click")
        try:
            campaign = self.catalogue.find_campaign(click.campaign_id)
            domains = self.list_landing_domains(campaign) if campaign is not None else []
            try:
                check_landing_allowed(click.landing_url, domains)
            except Invalid:
                raise ClickNotFound("the click's landing URL is no longer allowed") from None
            outcome = self._record_once(click, now)
        except self.unavailable as error:
            # ADR 0030: the landing URL was checked and signed when the click was made, so
            # the browser still goes there; only the touch (and a re-check) is lost.
            log.warning("click followed while the store is unreachable: %s", error,
                        extra={"error": type(error).__name__})
            outcome = NOT_RECORDED
        return FollowedClick(click, add_click_id(click.landing_url, click.click_id), outcome)

    def list_landing_domains(self, campaign: Campaign) -> list[str]:
        """The registered domains of the tags, visible to the campaign's owner, whose enabled,
        non-archived actions link the campaign."""
        owner = self.catalogue.find_account(campaign.owner_account_id)
        if owner is None:
            return []
        campaign_id = str(campaign.id)
        domains: list[str] = []
        for tag_id in dict.fromkeys(owner.tag_ids + owner.shared_tag_ids):
            tag = self.catalogue.find_tag(tag_id)
            if tag is None or tag.role_of(str(owner.id)) is None:
                continue
            for action_id in tag.action_ids:
                action = self.catalogue.find_action(action_id)
                if (action is not None and find_refusal(action) is None
                        and campaign_id in action.settings.campaign_ids):
                    domains += tag.domains
                    break
        return domains

    def _record_once(self, click: Click, now: datetime) -> str:
        # A repeat is answered from the fact index without writing: following a URL a
        # thousand times must not add a thousand rows to the duplicate ledger.
        if self.ingestion.ledger.find_fact_keys("touch", [click.click_id]):
            return REPEATED
        payload = {"event_id": click.click_id, "member_id": click.member_id, "kind": "click",
                   "campaign_id": click.campaign_id, "occurred_at": now.isoformat()}
        touch = TouchIn(click.click_id, click.member_id, "click", click.campaign_id, now, payload)
        [result] = self.ingestion.record_touches(Caller.admin(), [touch])
        return {"accepted": RECORDED, "duplicate": REPEATED}.get(result.status, REJECTED)
