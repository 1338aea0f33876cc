"""Signed, expiring consent links: made under PINGTREE_SECRET_KEY, never forged or stretched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from pingtree.consent.links import ConsentLinks, LinkRefused
from pingtree.credentials.keys import SecretKeys

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OLD_KEY = SecretKeys.generate()
NEW_KEY = SecretKeys.generate()


def _links(setting: str) -> ConsentLinks:
    links = ConsentLinks.from_settings(
        SecretKeys.parse(setting), base_url="https://leads.example.com/", ttl=timedelta(days=7)
    )
    assert links is not None
    return links


def _parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path.rsplit("/", 1)[1], query["expires"][0], query["signature"][0]


def test_a_link_opens_until_it_expires() -> None:
    links = _links(NEW_KEY)
    link = links.link("consent-1", NOW)
    assert link.url.startswith("https://leads.example.com/api/v1/consent/consent-1?expires=")
    assert link.expires_at == NOW + timedelta(days=7)
    consent_id, expires, signature = _parts(link.url)
    links.check(consent_id, expires, signature, NOW + timedelta(days=6, hours=23))
    with pytest.raises(LinkRefused) as expired:
        links.check(consent_id, expires, signature, NOW + timedelta(days=7))
    assert (expired.value.status, expired.value.code) == (410, "link_expired")


@pytest.mark.parametrize("part", ["id", "expires", "signature"])
def test_a_changed_link_does_not_open(part: str) -> None:
    links = _links(NEW_KEY)
    consent_id, expires, signature = _parts(links.link("consent-1", NOW).url)
    changed = {
        "id": ("consent-2", expires, signature),
        "expires": (consent_id, str(int(expires) + 86_400), signature),
        "signature": (consent_id, expires, "0" * 64),
    }[part]
    with pytest.raises(LinkRefused) as refused:
        links.check(*changed, NOW)
    assert (refused.value.status, refused.value.code) == (403, "invalid_link")


def test_another_installation_cannot_sign_links() -> None:
    consent_id, expires, signature = _parts(_links(OLD_KEY).link("consent-1", NOW).url)
    with pytest.raises(LinkRefused):
        _links(NEW_KEY).check(consent_id, expires, signature, NOW)
    with pytest.raises(LinkRefused):
        _links(NEW_KEY).check(consent_id, "soon", signature, NOW)


def test_links_signed_before_a_key_rotation_still_open() -> None:
    consent_id, expires, signature = _parts(_links(OLD_KEY).link("consent-1", NOW).url)
    rotated = _links(f"{NEW_KEY},{OLD_KEY}")
    rotated.check(consent_id, expires, signature, NOW)
    fresh = _parts(rotated.link("consent-1", NOW).url)
    _links(NEW_KEY).check(*fresh, NOW)  # new links are signed with the newest key


def test_no_secret_key_no_links() -> None:
    none = ConsentLinks.from_settings(None, base_url="http://x", ttl=timedelta(days=1))
    assert none is None


def test_the_settings_for_consent_links() -> None:
    from pydantic import ValidationError

    from pingtree.settings import Settings

    given = Settings(public_url="https://leads.example.com", consent_link_ttl="P7D")
    assert given.public_base_url == "https://leads.example.com"
    assert given.consent_link_ttl == timedelta(days=7)
    assert Settings(consent_link_ttl="3600").consent_link_ttl == timedelta(hours=1)
    assert Settings(host="10.0.0.5", port=8080).public_base_url == "http://10.0.0.5:8080"
    for bad in ({"public_url": "leads.example.com"}, {"consent_link_ttl": "0"}):
        with pytest.raises(ValidationError):
            Settings(**bad)
