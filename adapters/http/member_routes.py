"""Member identity for browsers: member tokens and their sync pixel, click URLs (ADR 0030).

`POST /v1/members/{member_id}/token` and `POST /v1/clicks` are the ad platform's (admin token);
`GET /m/{token}` and `GET /c/{token}` are followed by browsers, without credentials, and are
kept out of the OpenAPI document as `/insight.js` is (docs/api.md describes them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, MediaType, Response, get, post

from adapters.http.auth import require_admin
from adapters.http.schemas import ClickOut, MemberTokenOut, NewClickIn
from adapters.http.strict_bodies import strict_body
from adapters.metrics import CLICKS_FOLLOWED
from application.access import Caller
from application.clicks import ClickLinks, ClickNotFound
from application.member_tokens import MemberTokens
from domain.validation import check_identifier

MEMBER_COOKIE = "ct_mid"
# The smallest transparent 1x1 GIF (GIF89a, 43 bytes), as tracking pixels answer.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
         b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
NO_STORE = "no-store"


def member_cookie(token: str, expires_at: datetime, now: datetime) -> str:
    """The `Set-Cookie` value that keeps a member token in the browser until it expires."""
    # Sent on requests from advertisers' pages to convtrack's host, a third party there:
    # SameSite=None, which browsers accept only with Secure (RFC 6265bis 5.6.7).
    max_age = max(0, int((expires_at - now).total_seconds()))
    return (f"{MEMBER_COOKIE}={token}; Max-Age={max_age}; Path=/; Secure; HttpOnly; "
            "SameSite=None")


class MemberRoutes(Controller):
    """Tokens naming a member, and click URLs, made for the ad platform."""

    path = "/v1"
    tags = ["members"]
    before_request = staticmethod(strict_body)  # docs/api.md types are JSON types

    @post("/members/{member_id:str}/token", sync_to_thread=False, status_code=201,
          summary="Sign a member token and its sync pixel URL (admin token)")
    def member_token(self, member_id: str, caller: Caller, member_tokens: MemberTokens,
                     public_url: str) -> MemberTokenOut:
        require_admin(caller)
        check_identifier(member_id, "member_id")  # the same rule as a touch's member_id
        issued = member_tokens.issue(member_id, datetime.now(UTC))
        return MemberTokenOut(token=issued.token, sync_url=f"{public_url}/m/{issued.token}",
                              expires_at=issued.expires_at)

    @post("/clicks", sync_to_thread=True, status_code=201,
          summary="Make a click URL that records a click and redirects (admin token)")
    def create_click(self, data: NewClickIn, caller: Caller, clicks: ClickLinks,
                     public_url: str) -> ClickOut:
        issued = clicks.create_click(caller, data.member_id, data.campaign_id, data.landing_url,
                                     data.event_id)
        return ClickOut(click_id=issued.click_id, click_url=f"{public_url}/c/{issued.token}",
                        expires_at=issued.expires_at)


@get("/m/{token:str}", include_in_schema=False, sync_to_thread=False)
def sync_pixel(token: str, member_tokens: MemberTokens) -> Response[bytes]:
    """The GIF, setting `ct_mid` to the token when it is valid; the same GIF without a cookie
    otherwise (an image tag shows no error page, and the answer tells a prober nothing)."""
    now = datetime.now(UTC)
    headers = {"Cache-Control": NO_STORE}
    opened = member_tokens.open(token, now)
    if opened is not None:
        headers["Set-Cookie"] = member_cookie(token, opened[1], now)
    return Response(PIXEL, media_type="image/gif", headers=headers)


@get("/c/{token:str}", include_in_schema=False, sync_to_thread=True)
def follow_click(token: str, clicks: ClickLinks, member_tokens: MemberTokens
                 ) -> Response[bytes]:
    """302 to the landing URL with `ct_clid`, setting `ct_mid`; a 404 page for a bad link."""
    try:
        followed = clicks.follow_click(token)
    except ClickNotFound:
        CLICKS_FOLLOWED.labels("not_found").inc()
        raise  # adapters/http/errors.py answers the page
    CLICKS_FOLLOWED.labels(followed.outcome).inc()
    now = datetime.now(UTC)
    issued = member_tokens.issue(followed.click.member_id, now)
    return Response(b"", status_code=302, media_type=MediaType.TEXT, headers={
        "Location": followed.redirect_url, "Cache-Control": NO_STORE,
        "Set-Cookie": member_cookie(issued.token, issued.expires_at, now)})


MEMBER_ROUTES: list[Any] = [MemberRoutes, sync_pixel, follow_click]
