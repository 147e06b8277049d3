"""Signed, stateless tokens: the `ct_mid` member cookie and the payloads of click URLs (ADR 0030).

A token is `<payload>.<expiry>.<mac>`: the payload in unpadded base64url, the expiry in whole
Unix seconds, and the HMAC-SHA256 (RFC 2104) of `convtrack/<purpose>/v1` + the first two parts
under a secret key, in unpadded base64url. Every character is in `[A-Za-z0-9_.-]`, so a token is
safe in a cookie value (RFC 6265 4.1.1) and in a URL path segment (RFC 3986 2.3) as it is.

The purpose in the MAC keeps uses apart: a member token never verifies as a click token, nor the
reverse, although both are signed with the same keys. The first key signs; every key verifies, so
a key is rotated by moving it to the old keys (`CONVTRACK_SECRET_KEYS_OLD`) until the tokens it
signed have expired. Verification answers `None` for anything it does not accept, and never
raises on what a browser sent.
"""

from __future__ import annotations

import binascii
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Thirteen months: the longest lifetime that the CNIL (and the ePrivacy guidance that follows
# it) accepts for an audience-measurement cookie; each click followed issues a new one.
MEMBER_TOKEN_TTL = timedelta(days=390)
MIN_KEY_BYTES = 32  # RFC 2104 section 3: no shorter than the hash output
MAX_TOKEN_CHARS = 8192  # a browser keeps cookies of up to 4 KB; click URLs stay under ~2 KB

_TOKEN = re.compile(r"([A-Za-z0-9_-]*)\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})", re.ASCII)


@dataclass(frozen=True)
class IssuedToken:
    """A token and the moment it stops verifying."""

    token: str
    expires_at: datetime


class SignedTokens:
    """Payloads signed for one purpose with the first key and verified with any of them."""

    def __init__(self, keys: Sequence[bytes], purpose: str) -> None:
        if not keys:
            raise ValueError("at least one secret key is needed to sign tokens")
        if any(len(key) < MIN_KEY_BYTES for key in keys):
            raise ValueError(f"secret keys must be at least {MIN_KEY_BYTES} bytes")
        if not re.fullmatch(r"[a-z][a-z0-9-]*", purpose):
            raise ValueError(f"bad token purpose {purpose!r}")
        self._keys = tuple(bytes(key) for key in keys)
        self._domain = f"convtrack/{purpose}/v1\n".encode()

    def sign(self, payload: bytes, expires_at: datetime) -> IssuedToken:
        """Sign `payload` until `expires_at` (rounded down to the second)."""
        expiry = int(_aware(expires_at).timestamp())
        signed = f"{_encode(payload)}.{expiry}"
        mac = self._mac(self._keys[0], signed)
        return IssuedToken(f"{signed}.{mac}", datetime.fromtimestamp(expiry, UTC))

    def open(self, token: object, now: datetime) -> bytes | None:
        """The payload of a token signed by a known key and not yet expired, else None."""
        opened = self.open_issued(token, now)
        return None if opened is None else opened[0]

    def open_issued(self, token: object, now: datetime) -> tuple[bytes, datetime] | None:
        """The payload and expiry of a token signed by a known key and not yet expired."""
        instant = _aware(now).timestamp()
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            return None
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        payload, expiry, mac = match.groups()
        signed = token[:match.end(2)]
        # Every key is tried (no early exit) and compared in constant time, so the time taken
        # tells nothing about which key, or how much of the MAC, matched. The MACs compare in
        # their text form: one MAC has one spelling (the last character's spare bits are 0).
        valid = False
        for key in self._keys:
            valid |= hmac.compare_digest(self._mac(key, signed), mac)
        if not valid or instant >= int(expiry):
            return None
        data = _decode(payload)
        return None if data is None else (data, datetime.fromtimestamp(int(expiry), UTC))

    def _mac(self, key: bytes, signed: str) -> str:
        return _encode(hmac.digest(key, self._domain + signed.encode("ascii"), "sha256"))


class MemberTokens:
    """The signed `ct_mid` value that names a member to the collector."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._tokens = SignedTokens(keys, "member")

    @classmethod
    def with_random_key(cls) -> MemberTokens:
        """Tokens that only this object verifies (tests, in-memory services)."""
        return cls([secrets.token_bytes(MIN_KEY_BYTES)])

    def issue(
        self, member_id: str, now: datetime, ttl: timedelta = MEMBER_TOKEN_TTL
    ) -> IssuedToken:
        """A token naming `member_id`, valid from `now` for `ttl`."""
        if not member_id:
            raise ValueError("a member token needs a member id")
        return self._tokens.sign(member_id.encode("utf-8"), _aware(now) + ttl)

    def verify(self, token: str | None, now: datetime) -> str | None:
        """The member id of a valid token; None when missing, malformed, forged or expired."""
        opened = self.open(token, now)
        return None if opened is None else opened[0]

    def open(self, token: str | None, now: datetime) -> tuple[str, datetime] | None:
        """The member id and expiry of a valid token (the sync pixel's cookie lasts as long)."""
        opened = self._tokens.open_issued(token, now)
        if opened is None or not opened[0]:
            return None
        try:
            return opened[0].decode("utf-8"), opened[1]
        except UnicodeDecodeError:
            return None


def _aware(moment: datetime) -> datetime:
    # A naive datetime would be read in the machine's local zone: a programming error here.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("token times must be timezone-aware")
    return moment


# binascii directly: base64's wrappers were a third of a verification's time.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = str.maketrans("-_", "+/")


def _encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def _decode(text: str) -> bytes | None:
    try:
        return binascii.a2b_base64(text.translate(_FROM_URLSAFE) + "=" * (-len(text) % 4),
                                   strict_mode=True)
    except binascii.Error:
        return None
