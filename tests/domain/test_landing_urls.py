"""Landing URLs of click URLs: only what every browser reads as this host, and ct_clid added."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.landing_urls import add_click_id, check_landing_allowed, check_landing_url
from domain.validation import Invalid

DOMAINS = ["example.com"]


@pytest.mark.parametrize("url, host", [
    ("https://example.com/", "example.com"),
    ("https://example.com", "example.com"),
    ("http://shop.example.com:8443/a/b?c=d&e=f#top", "shop.example.com"),
    ("HTTPS://Shop.Example.COM/Path", "shop.example.com"),
    ("https://example.com./", "example.com"),
])
def test_a_web_url_on_a_registered_domain_or_below_is_a_landing_url(url: str, host: str) -> None:
    assert check_landing_allowed(url, DOMAINS) == host


@pytest.mark.parametrize("url, reason", [
    ("https://evil-example.com/", "landing_domain_not_allowed"),
    ("https://example.com.evil.test/", "landing_domain_not_allowed"),
    ("https://evil.test/?next=https://example.com/", "landing_domain_not_allowed"),
    ("https://badexample.com/", "landing_domain_not_allowed"),
    ("https://user:pass@example.com/", "has_userinfo"),
    ("https://evil.test@example.com/", "has_userinfo"),
    ("https://example.com@evil.test/", "has_userinfo"),
    ("https://evil.test\\@example.com/", "invalid_characters"),
    ("https://evil.test\\.example.com/", "invalid_characters"),
    ("javascript:alert(1)//example.com", "not_a_web_url"),
    ("javascript://example.com/%0aalert(1)", "not_a_web_url"),
    ("data:text/html,hi", "not_a_web_url"),
    ("ftp://example.com/", "not_a_web_url"),
    ("//example.com/", "not_a_web_url"),
    ("https:example.com", "not_a_web_url"),
    ("https:/example.com/", "not_a_web_url"),
    ("https:///evil.test/", "not_a_hostname"),
    ("/relative/path", "not_a_web_url"),
    ("https://exa\tmple.com/", "invalid_characters"),
    ("https://example.com/\n", "invalid_characters"),
    (" https://example.com/", "invalid_characters"),
    ("https://example.com/ space", "invalid_characters"),
    ("https://exämple.com/", "invalid_characters"),
    ("https://example.com/\"><script>", "invalid_characters"),
    ("https://evil.test%2fexample.com/", "not_a_hostname"),
    ("https://[::1]/", "not_a_hostname"),
    ("https://127.0.0.1/", "not_a_hostname"),
    ("https://0x7f.1/", "not_a_hostname"),
    ("https://example.com:0/", "invalid_port"),
    ("https://example.com:99999/", "invalid_port"),
    ("https://example.com:/", "invalid_port"),
    ("https://example.com:80:80/", "invalid_port"),
    ("https://" + "a" * 2050 + ".example.com/", "too_long"),
])
def test_anything_else_is_refused_naming_the_landing_url(url: str, reason: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_landing_allowed(url, DOMAINS)

    assert (refused.value.field, refused.value.code) == ("landing_url", reason)


def test_a_landing_url_on_no_domain_at_all_is_refused() -> None:
    with pytest.raises(Invalid):
        check_landing_allowed("https://example.com/", [])


def test_the_click_id_is_added_after_the_query_and_before_the_fragment() -> None:
    assert add_click_id("https://example.com/a?b=1&c=2#top", "clk") == \
        "https://example.com/a?b=1&c=2&ct_clid=clk#top"
    assert add_click_id("https://example.com", "clk") == "https://example.com?ct_clid=clk"
    assert add_click_id("https://example.com/?", "clk") == "https://example.com/?ct_clid=clk"


def test_a_click_id_already_in_the_landing_url_is_replaced() -> None:
    assert add_click_id("https://example.com/?ct_clid=old&x=1", "new") == \
        "https://example.com/?x=1&ct_clid=new"


def test_a_click_id_is_percent_encoded() -> None:
    assert add_click_id("https://example.com/", "a b&c=d#e") == \
        "https://example.com/?ct_clid=a%20b%26c%3Dd%23e"


@given(path=st.from_regex(r"(/[A-Za-z0-9._~-]{0,8}){0,3}", fullmatch=True),
       query=st.lists(st.from_regex(r"[a-z]{1,4}=[A-Za-z0-9%]{0,6}", fullmatch=True),
                      max_size=3),
       fragment=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9]{0,6}", fullmatch=True)),
       click_id=st.text(min_size=1, max_size=20))
def test_the_redirect_keeps_host_path_query_and_fragment_and_reads_back_the_click_id(
    path: str, query: list[str], fragment: str | None, click_id: str
) -> None:
    url = "https://shop.example.com" + path + ("?" + "&".join(query) if query else "") + \
        ("#" + fragment if fragment is not None else "")
    check_landing_url(url)

    redirect = urlsplit(add_click_id(url, click_id))

    assert (redirect.hostname, redirect.path) == ("shop.example.com", path)
    assert parse_qs(redirect.query)["ct_clid"] == [click_id]
    assert redirect.query.startswith("&".join(query))
    assert redirect.fragment == (fragment or "")
