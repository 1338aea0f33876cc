"""Normalisation of email and phone, and the hashes built on it."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pingtree.identity import (
    normalize_email,
    normalize_phone,
    parse_email,
    person_hash,
    suppression_hash,
)
from pingtree.screening._area_codes import AREA_CODE_STATES

# --- email ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane.Smith@Example.COM", "jane.smith@example.com"),
        ("  jane@example.com  ", "jane@example.com"),
        ("John.Doe+promo@gmail.com", "johndoe@gmail.com"),
        ("J.O.H.N.D.O.E@GoogleMail.com", "johndoe@gmail.com"),
        # Only Gmail ignores dots and +tags; elsewhere they are part of the mailbox.
        ("john.doe+promo@outlook.com", "john.doe+promo@outlook.com"),
        ("x@xn--bcher-kva.de", "x@bücher.de"),
        ("x@BÜCHER.de", "x@bücher.de"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "not an email", "a@b", "a@@b.com", "x@y..com", "a@localhost", "+tag@gmail.com"],
)
def test_normalize_email_rejects_invalid(raw: str) -> None:
    assert normalize_email(raw) is None


def test_normalize_email_ignores_non_text() -> None:
    assert normalize_email(None) is None
    assert normalize_email(42) is None


def test_parse_email_keeps_ascii_domain_for_list_lookups() -> None:
    parsed = parse_email("Info@Bücher.de")
    assert parsed is not None
    assert parsed.local == "info"
    assert parsed.ascii_domain == "xn--bcher-kva.de"


@given(st.emails())
def test_email_normalisation_is_idempotent(email: str) -> None:
    once = normalize_email(email)
    assume(once is not None)
    assert normalize_email(once) == once


@given(st.text(max_size=40))
def test_email_normalisation_is_idempotent_on_any_text(raw: str) -> None:
    once = normalize_email(raw)
    if once is not None:
        assert normalize_email(once) == once


@given(st.emails())
def test_email_normalisation_ignores_case(email: str) -> None:
    once = normalize_email(email)
    assume(once is not None)
    assert normalize_email(email.swapcase()) == once
    assert normalize_email(email.upper()) == once


_GMAIL_LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20)


@given(
    local=_GMAIL_LOCAL,
    dots=st.lists(st.integers(min_value=1, max_value=19), max_size=4, unique=True),
    tag=st.one_of(st.none(), _GMAIL_LOCAL),
    domain=st.sampled_from(["gmail.com", "GMAIL.com", "googlemail.com"]),
)
def test_gmail_dots_and_tags_name_one_mailbox(
    local: str, dots: list[int], tag: str | None, domain: str
) -> None:
    # Dots only between characters: Gmail (and RFC 5322) forbid leading, trailing and
    # doubled dots, so those forms are not the same mailbox, they are invalid.
    chars = list(local)
    for position in sorted((d for d in dots if d < len(local)), reverse=True):
        chars.insert(position, ".")
    variant = "".join(chars) + (f"+{tag}" if tag else "") + "@" + domain
    assert normalize_email(variant) == f"{local}@gmail.com"


# --- phone ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(212) 736-5000", "+12127365000"),
        ("212.736.5000", "+12127365000"),
        ("1-212-736-5000", "+12127365000"),
        ("+1 212 736 5000", "+12127365000"),
        ("2127365000", "+12127365000"),
        (2127365000, "+12127365000"),
        ("(212) 736-5000 ext. 12", "+12127365000"),
        ("(416) 392-2489", "+14163922489"),  # Toronto 311
        ("1-800-275-8777", "+18002758777"),  # USPS, toll-free
        ("1-800-FLOWERS", "+18003569377"),
    ],
)
def test_normalize_phone(raw: object, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "abc",
        "123",
        "(212) 736-500",  # too short
        "1234567890",  # area code 123 does not exist
        "+44 20 7946 0958",  # valid UK number, not US/CA
        "+1 787 722 1234",  # Puerto Rico: NANP, but not US/CA here
        True,
        None,
    ],
)
def test_normalize_phone_rejects(raw: object) -> None:
    assert normalize_phone(raw) is None


@st.composite
def nanp_digits(draw: st.DrawFn) -> str:
    """Ten digits with a real geographic area code and a plausible exchange."""
    area = draw(st.sampled_from(sorted(AREA_CODE_STATES)))
    exchange = draw(st.integers(min_value=200, max_value=999))
    line = draw(st.integers(min_value=0, max_value=9999))
    digits = f"{area}{exchange}{line:04d}"
    assume(normalize_phone(digits) is not None)
    return digits


@given(nanp_digits())
def test_phone_formats_normalise_alike(digits: str) -> None:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    forms = [
        f"({a}) {b}-{c}",
        f"+1{digits}",
        f"{a}.{b}.{c}",
        f"1-{a}-{b}-{c}",
        f"{a} {b} {c}",
        f"+1 ({a}) {b} {c}",
        digits,
    ]
    assert {normalize_phone(form) for form in forms} == {f"+1{digits}"}


@given(st.text(alphabet="0123456789+-(). x", max_size=20))
def test_phone_normalisation_is_idempotent(raw: str) -> None:
    once = normalize_phone(raw)
    if once is not None:
        assert normalize_phone(once) == once


# --- hashes -----------------------------------------------------------------------------


def test_person_hash_is_sha256_hex() -> None:
    expected = hashlib.sha256(b"+12127365000").hexdigest()
    assert person_hash("+12127365000") == expected


def test_suppression_hash_matches_across_forms() -> None:
    assert suppression_hash("phone", "(212) 736-5000") == person_hash("+12127365000")
    assert suppression_hash("phone", "212.736.5000") == suppression_hash("phone", "+12127365000")
    assert suppression_hash("email", "John.Doe+x@Gmail.com") == person_hash("johndoe@gmail.com")


def test_suppression_hash_of_invalid_value_is_none() -> None:
    assert suppression_hash("email", "nope") is None
    assert suppression_hash("phone", "nope") is None


@given(nanp_digits())
def test_suppression_hash_of_phone_is_format_independent(digits: str) -> None:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    assert suppression_hash("phone", f"({a}) {b}-{c}") == suppression_hash("phone", f"+1{digits}")


def test_an_email_is_checked_once_and_a_value_longer_than_any_address_is_never_kept() -> None:
    from pingtree.identity import _checked_email, checked_email

    _checked_email.cache_clear()
    assert not isinstance(checked_email("Someone@Example.com"), str)
    assert not isinstance(checked_email("Someone@Example.com"), str)
    assert _checked_email.cache_info().hits == 1  # validation and screening: one check
    long = "x" * 5000 + "@example.com"
    assert "too long" in str(checked_email(long))
    assert _checked_email.cache_info().currsize == 1  # a hostile value holds no memory
