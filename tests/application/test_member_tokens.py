"""Member tokens (`ct_mid`) and click tokens: signed, expiring, rotated, kept apart (ADR 0030)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.clicks import Click, ClickTokens
from application.member_tokens import (
    MEMBER_TOKEN_TTL,
    IssuedToken,
    MemberTokens,
    SignedTokens,
)

KEY = b"k" * 32
OLD_KEY = b"o" * 32
OTHER_KEY = b"x" * 32
NOW = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)
# Cookie values (RFC 6265 4.1.1) and URL path segments (RFC 3986 2.3) both take these as they are.
SAFE = re.compile(r"[A-Za-z0-9_.-]+")


def test_a_token_names_the_member_it_was_issued_for() -> None:
    tokens = MemberTokens([KEY])
    issued = tokens.issue("member-1", NOW)

    assert tokens.verify(issued.token, NOW) == "member-1"
    assert tokens.verify(issued.token, issued.expires_at - timedelta(seconds=1)) == "member-1"


def test_a_token_lasts_thirteen_months_by_default_to_the_second() -> None:
    issued = MemberTokens([KEY]).issue("member-1", NOW)

    assert MEMBER_TOKEN_TTL == timedelta(days=390)
    assert issued.expires_at == (NOW + MEMBER_TOKEN_TTL).replace(microsecond=0)


def test_a_token_is_safe_in_a_cookie_and_in_a_url_path_whatever_the_member_id() -> None:
    issued = MemberTokens([KEY]).issue("ünïcode member; id=1/2?x", NOW)

    assert SAFE.fullmatch(issued.token)
    assert MemberTokens([KEY]).verify(issued.token, NOW) == "ünïcode member; id=1/2?x"


def test_an_expired_token_names_nobody() -> None:
    tokens = MemberTokens([KEY])
    issued = tokens.issue("member-1", NOW, ttl=timedelta(minutes=5))

    assert tokens.verify(issued.token, issued.expires_at) is None
    assert tokens.verify(issued.token, NOW + timedelta(days=1)) is None


@pytest.mark.parametrize("part", [0, 1, 2], ids=["member", "expiry", "signature"])
def test_a_tampered_token_names_nobody(part: int) -> None:
    tokens = MemberTokens([KEY])
    pieces = tokens.issue("member-1", NOW).token.split(".")
    forged = {0: "bWVtYmVyLTI", 1: str(int(pieces[1]) + 86400), 2: "A" * 43}[part]
    pieces[part] = forged

    assert tokens.verify(".".join(pieces), NOW) is None


def test_a_token_signed_with_an_old_key_still_verifies() -> None:
    issued = MemberTokens([OLD_KEY]).issue("member-1", NOW)

    assert MemberTokens([KEY, OLD_KEY]).verify(issued.token, NOW) == "member-1"


def test_new_tokens_are_signed_with_the_first_key_only() -> None:
    issued = MemberTokens([KEY, OLD_KEY]).issue("member-1", NOW)

    assert MemberTokens([KEY]).verify(issued.token, NOW) == "member-1"
    assert MemberTokens([OLD_KEY]).verify(issued.token, NOW) is None


def test_a_token_signed_with_an_unknown_key_names_nobody() -> None:
    issued = MemberTokens([OTHER_KEY]).issue("member-1", NOW)

    assert MemberTokens([KEY, OLD_KEY]).verify(issued.token, NOW) is None


def test_the_sync_pixel_learns_when_a_token_expires() -> None:
    tokens = MemberTokens([KEY])
    issued = tokens.issue("member-1", NOW)

    assert tokens.open(issued.token, NOW) == ("member-1", issued.expires_at)


def test_a_member_token_never_opens_as_a_click_nor_a_click_as_a_member() -> None:
    member = MemberTokens([KEY]).issue("member-1", NOW)
    clicks = ClickTokens([KEY])
    click = clicks.issue(Click("c1", "member-1", "campaign", "https://shop.example/"), NOW)

    assert clicks.open(member.token, NOW) is None
    assert MemberTokens([KEY]).verify(click.token, NOW) is None
    assert SignedTokens([KEY], "other").open(member.token, NOW) is None


def test_a_click_token_carries_its_click_until_it_expires() -> None:
    clicks = ClickTokens([KEY])
    click = Click("c1", "member-1", "campaign", "https://shop.example/a?b=1#c")
    issued = clicks.issue(click, NOW)

    assert clicks.open(issued.token, NOW) == click
    assert clicks.open(issued.token, issued.expires_at) is None


@pytest.mark.parametrize("keys", [[], [b"short"], [KEY, b""]], ids=["none", "short", "empty"])
def test_tokens_refuse_missing_or_short_keys(keys: list[bytes]) -> None:
    with pytest.raises(ValueError):
        MemberTokens(keys)


def test_a_naive_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        MemberTokens([KEY]).issue("member-1", datetime(2025, 3, 1))


@pytest.mark.parametrize("garbage", [
    None, "", ".", "..", "a.b.c", "bWVtYmVyLTE.1.", "bWVtYmVyLTE.99999999999999." + "A" * 43,
    "bWVtYmVyLTE.1740000000." + "A" * 42 + "=", "x" * 100_000, "\x00.1.\x00", "💥.1.💥",
    "bWVtYmVyLTE.١٢٣." + "A" * 43, "bWVtYmVyLTE.1740000000." + "A" * 43 + "\n",
])
def test_garbage_names_nobody(garbage: str | None) -> None:
    assert MemberTokens([KEY]).verify(garbage, NOW) is None
    assert ClickTokens([KEY]).open(garbage, NOW) is None


@given(st.one_of(st.none(), st.text(), st.binary().map(lambda b: b.decode("latin-1")),
                 st.from_regex(r"[A-Za-z0-9_-]{0,40}\.[0-9]{1,12}\.[A-Za-z0-9_-]{43}",
                               fullmatch=True)))
def test_no_text_makes_verification_raise_or_name_a_member(text: str | None) -> None:
    assert MemberTokens([KEY]).verify(text, NOW) is None
    assert ClickTokens([KEY]).open(text, NOW) is None


@given(member_id=st.text(min_size=1, max_size=200),
       ttl=st.timedeltas(min_value=timedelta(seconds=2), max_value=timedelta(days=4000)))
def test_every_member_id_round_trips_and_a_flipped_character_breaks_it(
    member_id: str, ttl: timedelta
) -> None:
    tokens = MemberTokens([KEY, OLD_KEY])
    issued: IssuedToken = tokens.issue(member_id, NOW, ttl)

    assert tokens.verify(issued.token, NOW) == member_id
    for position in range(len(issued.token)):
        char = issued.token[position]
        flipped = issued.token[:position] + ("B" if char != "B" else "C") + \
            issued.token[position + 1:]
        assert tokens.verify(flipped, NOW) is None
