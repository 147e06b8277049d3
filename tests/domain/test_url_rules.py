"""URL rules and registered domains (docs/attribution.md: What is never a conversion)."""

from __future__ import annotations

import pytest

from domain.url_rules import (
    NOT_A_HOSTNAME,
    check_domain,
    explain_rules,
    host_is_registered,
    host_of,
    matches_any,
    normalise_domain,
    normalise_url,
    rule_matches,
)
from domain.values import UrlRule

THANKS = "https://example.com/thanks"


def exact(url: str) -> UrlRule:
    return UrlRule("exact", url)


def test_normalising_lower_cases_scheme_and_host_and_drops_the_fragment() -> None:
    assert normalise_url("HTTPS://Example.COM/Path?Q=A#Frag") == "https://example.com/Path?Q=A"


def test_normalising_keeps_userinfo_port_path_and_query_literally() -> None:
    assert normalise_url("http://Bob@Example.com:8080/A?b=C") == "http://Bob@example.com:8080/A?b=C"


def test_normalising_keeps_an_empty_query_marker() -> None:
    assert normalise_url("https://example.com/thanks?#top") == "https://example.com/thanks?"


def test_normalising_leaves_text_without_a_host_literal() -> None:
    assert normalise_url("Page:One/Thanks#x") == "Page:One/Thanks"


@pytest.mark.parametrize("url", [
    "https://example.com/thanks/",
    "https://www.example.com/thanks",
    "https://example.com/Thanks",
])
def test_exact_is_equality_of_the_whole_url(url: str) -> None:
    # The three counter-examples of docs/attribution.md, What is never a conversion.
    assert not rule_matches(exact(THANKS), url)


def test_exact_ignores_the_case_of_scheme_and_host_and_the_fragment() -> None:
    assert rule_matches(exact(THANKS), "HTTPS://Example.COM/thanks#x")


def test_the_rule_url_is_normalised_the_same_way() -> None:
    assert rule_matches(exact("HTTPS://EXAMPLE.com/thanks#ignored"), THANKS)


def test_exact_includes_the_query_string() -> None:
    assert not rule_matches(exact(THANKS), THANKS + "?utm_source=x")
    assert not rule_matches(exact(THANKS), THANKS + "?")


def test_the_query_string_is_case_sensitive() -> None:
    assert not rule_matches(exact(THANKS + "?Plan=pro"), THANKS + "?plan=pro")


def test_starts_with_is_a_plain_prefix_test_on_the_whole_url() -> None:
    rule = UrlRule("starts_with", "https://Example.com/thanks")
    assert rule_matches(rule, "https://example.com/thanks/order?id=1")
    assert rule_matches(rule, "https://example.com/thanksgiving")
    assert not rule_matches(rule, "https://shop.example.com/thanks")
    assert not rule_matches(rule, "http://example.com/thanks")


def test_contains_is_a_plain_substring_test_including_the_query_string() -> None:
    rule = UrlRule("contains", "order=done")
    assert rule_matches(rule, "https://example.com/checkout?order=done&x=1")
    assert not rule_matches(rule, "https://example.com/checkout#order=done")


def test_contains_is_case_sensitive_outside_scheme_and_host() -> None:
    assert not rule_matches(UrlRule("contains", "/Thanks"), THANKS)
    assert rule_matches(UrlRule("contains", "Wiki/Page:One"), "https://x.org/Wiki/Page:One")


def test_a_rule_that_is_empty_once_normalised_matches_nothing() -> None:
    assert not rule_matches(UrlRule("contains", ""), THANKS)
    assert not rule_matches(UrlRule("contains", "#top"), THANKS + "#top")


def test_an_unknown_match_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="match kind"):
        rule_matches(UrlRule("regex", ".*"), THANKS)


def test_any_matching_rule_is_enough() -> None:
    rules = [exact("https://example.com/other"), UrlRule("contains", "/thanks")]
    assert matches_any(rules, THANKS)
    assert not matches_any([], THANKS)


def test_explaining_rules_says_which_matched_in_order() -> None:
    rules = [exact("https://example.com/other"), UrlRule("starts_with", "https://example.com/")]
    assert explain_rules(rules, THANKS) == [(rules[0], False), (rules[1], True)]


def test_the_host_of_a_web_url_is_lower_case_without_port_or_userinfo() -> None:
    assert host_of("HTTPS://bob@Shop.Example.COM:8443/x") == "shop.example.com"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "/thanks", "https://", "example.com/x",
                                 "http://[::1"])
def test_a_url_without_a_web_scheme_and_host_has_no_host(url: str) -> None:
    assert host_of(url) is None


def test_a_registered_domain_covers_itself_and_its_subdomains() -> None:
    assert host_is_registered("example.com", ["example.com"])
    assert host_is_registered("shop.example.com", ["example.com"])
    assert host_is_registered("a.b.example.com", ["other.org", "example.com"])


def test_a_registered_domain_does_not_cover_a_lookalike_or_its_parent() -> None:
    assert not host_is_registered("badexample.com", ["example.com"])
    assert not host_is_registered("example.com", ["shop.example.com"])
    assert not host_is_registered("example.com", [])


def test_registered_domains_compare_case_insensitively_and_ignore_the_root_dot() -> None:
    assert host_is_registered("Shop.Example.com.", ["EXAMPLE.COM"])


def test_normalising_a_domain_trims_lower_cases_and_drops_the_root_dot() -> None:
    assert normalise_domain("  Shop.Example.COM. ") == "shop.example.com"


@pytest.mark.parametrize("domain", ["example.com", "Shop.Example.com", "xn--bcher-kva.example",
                                    "a-b.c0.io", "localhost", "127.0.0.1", "a" * 63 + ".com"])
def test_a_dns_hostname_is_a_valid_domain(domain: str) -> None:
    assert check_domain(domain) is None


@pytest.mark.parametrize("domain", [
    "", "example", "https://example.com", "example.com/path", "exa mple.com", "example..com",
    "-example.com", "example-.com", "*.example.com", "bücher.example", "a" * 64 + ".com",
    ".".join(["abcdefghi"] * 26),
])
def test_text_that_is_not_a_dns_hostname_is_rejected(domain: str) -> None:
    assert check_domain(domain) == NOT_A_HOSTNAME
