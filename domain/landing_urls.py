"""Where a click URL may send a browser, and how the click id rides along (ADR 0030).

A click URL redirects to its landing URL, so a landing URL that another program reads
differently from this one would make convtrack an open redirect. The rule is therefore
stricter than what browsers accept: `http` or `https`, then `://`, then a host name (no
user-info, no IP literal in brackets, no percent-encoding) and an optional port, and only
printable ASCII without spaces, backslashes or quotes anywhere. Browsers read `\\` as `/` in
web URLs (WHATWG URL Standard, "special" schemes) and drop tabs and newlines, so
`https://evil.test\\@shop.example` would be read as a path on `shop.example` here and lead to
`evil.test` there: such text is refused, never repaired.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from domain.url_rules import check_domain, host_is_registered, normalise_domain
from domain.validation import Invalid

CLICK_ID_PARAMETER = "ct_clid"
MAX_LANDING_URL_LENGTH = 2048

# Printable ASCII but space and the characters that URLs never carry unencoded (RFC 3986
# appendix C): a browser would encode or drop them, and its reading could differ from ours.
_ALLOWED = re.compile(r"[!#$%&'()*+,\-./0-9:;=?@A-Z\[\]_a-z~|^{}`]*")
_SHAPE = re.compile(r"(?P<scheme>[A-Za-z]+)://(?P<authority>[^/?#]*)(?P<rest>[/?#].*)?",
                    re.DOTALL)
_PORT = re.compile(r"[0-9]{1,5}")
_NUMERIC_END = re.compile(r"(?:.*\.)?(?:[0-9]+|0x[0-9a-f]*)")


def check_landing_url(url: str, field: str = "landing_url") -> str:
    """The host of a landing URL that can be redirected to safely; Invalid naming the field."""
    if len(url) > MAX_LANDING_URL_LENGTH:
        raise Invalid(field, "too_long", f"URLs are at most {MAX_LANDING_URL_LENGTH} characters")
    if not _ALLOWED.fullmatch(url):
        raise Invalid(field, "invalid_characters",
                      "a landing URL is printable ASCII without spaces, backslashes, quotes or "
                      "angle brackets: percent-encode them (host names in punycode)")
    shape = _SHAPE.fullmatch(url)
    if shape is None or shape["scheme"].lower() not in ("http", "https"):
        raise Invalid(field, "not_a_web_url", "a landing URL starts with https:// or http://")
    authority = shape["authority"]
    if "@" in authority:
        raise Invalid(field, "has_userinfo", "a landing URL carries no user name or password")
    host, colon, port = authority.partition(":")
    if check_domain(host) is not None or _NUMERIC_END.fullmatch(normalise_domain(host)):
        # A host ending in a number is an IPv4 address to a browser, in whatever spelling
        # ("0x7f.1" is 127.0.0.1, WHATWG URL Standard "ends in a number"): no landing host.
        raise Invalid(field, "not_a_hostname", f"{host!r} is not a host name")
    if colon and not (_PORT.fullmatch(port) and 0 < int(port) < 65536):
        raise Invalid(field, "invalid_port", f"{port!r} is not a port")
    return normalise_domain(host)


def check_landing_allowed(url: str, domains: list[str], field: str = "landing_url") -> str:
    """As check_landing_url, and the host must be one of `domains` or a subdomain of one."""
    host = check_landing_url(url, field)
    if not host_is_registered(host, domains):
        raise Invalid(field, "landing_domain_not_allowed",
                      f"{host!r} is not a registered domain (or a subdomain of one) of a tag "
                      "whose enabled actions link this campaign")
    return host


def add_click_id(url: str, click_id: str) -> str:
    """The landing URL with `ct_clid=<click_id>` as its last query parameter, fragment kept.

    A `ct_clid` the URL already had is dropped: the page must read this click's id, not one
    copied into an ad's URL by hand.
    """
    head, hash_mark, fragment = url.partition("#")
    base, _, query = head.partition("?")
    kept = [p for p in query.split("&") if p and p.split("=", 1)[0] != CLICK_ID_PARAMETER]
    kept.append(f"{CLICK_ID_PARAMETER}={quote(click_id, safe='')}")
    return f"{base}?{'&'.join(kept)}{hash_mark}{fragment}"
