"""Checking a lead's consent at intake: every problem named, against the policy in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pingtree.consent.check import check_consent
from pingtree.consent.model import Certificate, ConsentIn, ConsentPolicy
from pingtree.digests import sha256_hex
from tests.consent.certificates import DISCLOSURE, certificate

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REQUIRED = ConsentPolicy(required=True, max_age=timedelta(hours=1), unnamed_sellers="refuse")


def _codes(raw: dict[str, object] | None, policy: ConsentPolicy | None) -> list[tuple[str, str]]:
    _, problems = check_consent(raw, policy, received_at=NOW)
    return [(r.code, r.field or "") for r in problems]


def test_a_complete_certificate_passes_the_strictest_policy() -> None:
    given, problems = check_consent(
        certificate(NOW - timedelta(minutes=3)), REQUIRED, received_at=NOW
    )
    assert problems == []
    assert given is not None and given.sellers == ["Apex Insurance", "Bluecrest Mutual"]


def test_no_certificate_is_refused_only_where_required() -> None:
    assert _codes(None, None) == []
    assert _codes(None, ConsentPolicy()) == []
    assert _codes(None, REQUIRED) == [("missing_consent", "consent")]


def test_every_missing_or_bad_part_is_named_at_once() -> None:
    raw = certificate(NOW, ip="300.1.2.3", page_url="ftp://x", user_agent=None, colour="red")
    assert sorted(_codes(raw, REQUIRED)) == [
        ("invalid_consent", "consent.colour"),
        ("invalid_consent", "consent.ip"),
        ("invalid_consent", "consent.page_url"),
        ("invalid_consent", "consent.user_agent"),
    ]
    _, problems = check_consent(raw, REQUIRED, received_at=NOW)
    messages = {r.field: r.message for r in problems}
    assert messages["consent.ip"] == "consent.ip must be an IPv4 or IPv6 address"
    assert messages["consent.page_url"] == "consent.page_url must be an http or https URL"
    assert messages["consent.user_agent"] == "consent.user_agent is required"


def test_the_disclosure_is_its_text_or_its_hash() -> None:
    text_only = certificate(NOW)
    hash_only = certificate(NOW, disclosure_text=None, disclosure_sha256=sha256_hex(DISCLOSURE))
    assert _codes(text_only, REQUIRED) == _codes(hash_only, REQUIRED) == []
    neither = certificate(NOW, disclosure_text=None)
    assert _codes(neither, REQUIRED) == [("invalid_consent", "consent")]
    wrong = certificate(NOW, disclosure_sha256="0" * 64)
    assert _codes(wrong, REQUIRED) == [("invalid_consent", "consent")]


def test_too_old_and_future_consent() -> None:
    assert _codes(certificate(NOW - timedelta(minutes=59)), REQUIRED) == []
    old = certificate(NOW - timedelta(minutes=61))
    assert _codes(old, REQUIRED) == [("consent_too_old", "consent.consented_at")]
    _, [reason] = check_consent(old, REQUIRED, received_at=NOW)
    assert reason.message == "consent was given 1:01:00 ago; at most 1:00:00 is accepted"
    assert _codes(old, ConsentPolicy()) == []  # no max_age: any age
    future = certificate(NOW + timedelta(minutes=6))
    assert _codes(future, REQUIRED) == [("invalid_consent", "consent.consented_at")]
    assert _codes(certificate(NOW + timedelta(minutes=4)), REQUIRED) == []  # clock skew


def test_a_consent_naming_no_sellers_follows_the_policy() -> None:
    unnamed = certificate(NOW, sellers=[])
    assert _codes(unnamed, ConsentPolicy(unnamed_sellers="allow")) == []
    assert _codes(unnamed, REQUIRED) == [("consent_names_no_seller", "consent.sellers")]


def test_a_publisher_policy_lays_over_the_verticals() -> None:
    vertical = ConsentPolicy(required=True, max_age=timedelta(days=1))
    publisher = ConsentPolicy.model_validate({"unnamed_sellers": "refuse"})
    merged = vertical.overlay(publisher)
    assert (merged.required, merged.max_age, merged.unnamed_sellers) == (
        True,
        timedelta(days=1),
        "refuse",
    )
    assert vertical.overlay(ConsentPolicy.model_validate({"required": False})).required is False


@pytest.mark.parametrize("stamp", ["2026-11-25T11:00:00", "2026-11-25T06:00:00-05:00"])
def test_the_certificate_as_stored_is_canonical(stamp: str) -> None:
    given = ConsentIn.model_validate(certificate(NOW, consented_at=stamp))
    stored = Certificate.of(given, id="c-1", lead_id="l-1", received_at=NOW)
    assert stored.consented_at == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    assert stored.sha256 == sha256_hex(stored.text)
    assert stored.text.startswith('{"certificate_url":"https://cert.trustedform.example/')
    assert '"disclosure_sha256":"' + sha256_hex(DISCLOSURE) + '"' in stored.text
    assert '"consented_at":"2026-11-25T11:00:00+00:00"' in stored.text
    assert '"lead_id":"l-1"' in stored.text and '"id":"c-1"' in stored.text
