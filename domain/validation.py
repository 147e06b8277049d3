"""Pure validation rules for facts and settings (docs/attribution.md: Rejected input).

Each check returns nothing or raises `Invalid` naming the field, a stable reason code and a
sentence. The HTTP layer turns `Invalid` into a 422 (commands) or a per-item rejection (facts).
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.values import (
    LONG_WINDOW_CATEGORIES,
    MAX_CONVERSION_AGE,
    MAX_FUTURE_SKEW,
    MAX_TOUCH_AGE,
    WINDOW_DAYS,
)


class Invalid(ValueError):
    """A value broke a rule: `field` names it, `code` is stable, `detail` is for people."""

    def __init__(self, field: str | None, code: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.code = code
        self.detail = detail

    def within(self, prefix: str) -> Invalid:
        """The same problem, with the field path placed under `prefix`."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return Invalid(field, self.code, self.detail)


# ISO 4217 active codes (2024 list). A closed list, because "three upper-case letters" alone
# would accept "ABC" and reports in an unknown currency cannot be summed or converted.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU
    MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD
    RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY
    TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD
    XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL""".split()
)


def check_currency(currency: str, field: str = "currency") -> None:
    """ISO 4217: three upper-case letters naming a known currency."""
    # isupper() alone ignores non-letters ("U$D".isupper() is True): require letters too.
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha() \
            or not currency.isupper():
        raise Invalid(field, "invalid_currency", f"{currency!r} is not three upper-case letters")
    if currency not in ISO_4217:
        raise Invalid(field, "unknown_currency", f"{currency!r} is not an ISO 4217 currency")


def check_amount(amount_minor: int, field: str = "amount_minor") -> None:
    """Amounts are whole minor units and never negative."""
    if amount_minor < 0:
        raise Invalid(field, "negative_amount", "amounts cannot be negative")
    if amount_minor > 10**15:
        raise Invalid(field, "amount_too_large", "amounts above 10^15 minor units are refused")


def check_aware(moment: datetime, field: str) -> None:
    """Times must carry an offset: a naive time is ambiguous (docs/api.md: RFC 3339 with offset).

    They must also be instants in UTC: 0001-01-01T00:00:00+01:00 is a valid RFC 3339 text, but
    in UTC it falls before year 1, and any comparison with it raises OverflowError.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Invalid(field, "missing_offset", "times need an offset, e.g. 2026-03-01T12:00:00Z")
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise Invalid(field, "out_of_range", "the time is outside years 1 to 9999 in UTC") from None


def check_not_in_future(occurred_at: datetime, now: datetime, field: str = "occurred_at") -> None:
    """More than 10 minutes ahead of the server clock is rejected (clock skew allowance)."""
    check_aware(occurred_at, field)
    if occurred_at - now > MAX_FUTURE_SKEW:
        raise Invalid(field, "occurred_in_future", "occurred_at is more than 10 minutes ahead")


def check_conversion_time(occurred_at: datetime, now: datetime) -> None:
    """Conversions may be at most 90 days old."""
    check_not_in_future(occurred_at, now)
    if now - occurred_at > MAX_CONVERSION_AGE:
        raise Invalid("occurred_at", "too_old", "conversions older than 90 days are refused")


def check_touch_time(occurred_at: datetime, now: datetime) -> None:
    """Touches may be back-filled up to 400 days."""
    check_not_in_future(occurred_at, now)
    if now - occurred_at > MAX_TOUCH_AGE:
        raise Invalid("occurred_at", "too_old", "touches older than 400 days are refused")


def check_window(days: int, category: str, field: str) -> None:
    """Windows are 1, 7, 30, 90 or 365 days; 365 only for the long-cycle categories."""
    if days not in WINDOW_DAYS:
        raise Invalid(field, "invalid_window", f"{days} is not one of 1, 7, 30, 90, 365")
    if days == 365 and category not in LONG_WINDOW_CATEGORIES:
        raise Invalid(
            field, "window_not_allowed_for_category",
            f"a 365-day window is not allowed for category {category!r}",
        )


def check_one_of(value: str, allowed: tuple[str, ...], field: str) -> None:
    """A vocabulary value (category, role, status...) must be one of the allowed words."""
    if value not in allowed:
        raise Invalid(field, "not_allowed", f"{value!r} is not one of {', '.join(allowed)}")


def check_text(value: str, field: str, *, max_length: int = 200) -> str:
    """Names and similar: stripped, non-empty, bounded."""
    stripped = value.strip()
    if not stripped:
        raise Invalid(field, "empty", f"{field} must not be empty")
    if len(stripped) > max_length:
        raise Invalid(field, "too_long", f"{field} is longer than {max_length} characters")
    return stripped


def check_identifier(value: str, field: str, *, max_length: int = 200) -> None:
    """Client-chosen ids (event_id, member_id): non-empty, printable, bounded."""
    if not value or not value.strip():
        raise Invalid(field, "empty", f"{field} must not be empty")
    if len(value) > max_length:
        raise Invalid(field, "too_long", f"{field} is longer than {max_length} characters")
    if not value.isprintable():
        raise Invalid(field, "not_printable", f"{field} contains control characters")
