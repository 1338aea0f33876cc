"""Signed, expiring links where a buyer fetches a lead's consent certificate.

`<public_url>/api/v1/consent/<id>?expires=<unix time>&signature=<hex HMAC-SHA256>`: the
HMAC of "<id>.<expires>" under a key derived from PINGTREE_SECRET_KEY (credentials.keys),
so a link can be neither forged nor stretched; rotating the key as for buyer secrets keeps
links signed with the older key valid until it is removed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pingtree.credentials.keys import SecretKeys

PURPOSE = "pingtree consent links v1"
PATH = "/api/v1/consent/"


class LinkRefused(Exception):
    """A link that does not open: an HTTP status, a stable code and why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class ConsentLink:
    """A link to one certificate, and when it stops working."""

    url: str
    expires_at: datetime


class ConsentLinks:
    """Makes and checks the links to consent certificates."""

    def __init__(self, keys: Sequence[bytes], *, base_url: str, ttl: timedelta) -> None:
        if not keys:
            raise ValueError("consent links need at least one key")
        self._keys = list(keys)
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl

    @classmethod
    def from_settings(
        cls, keys: SecretKeys | None, *, base_url: str, ttl: timedelta
    ) -> ConsentLinks | None:
        """Links under PINGTREE_SECRET_KEY; None without it (posts then carry no URL)."""
        if keys is None:
            return None
        return cls(keys.derive(PURPOSE), base_url=base_url, ttl=ttl)

    def link(self, consent_id: str, now: datetime) -> ConsentLink:
        """A link to the certificate, valid for ttl from now."""
        expires_at = (now + self.ttl).astimezone(UTC).replace(microsecond=0)
        expires = int(expires_at.timestamp())
        signature = self._sign(self._keys[0], consent_id, expires)
        query = urlencode({"expires": expires, "signature": signature})
        return ConsentLink(f"{self.base_url}{PATH}{consent_id}?{query}", expires_at)

    def check(self, consent_id: str, expires: str, signature: str, now: datetime) -> None:
        """Raise LinkRefused unless the link was signed here and has not expired."""
        try:
            until = int(expires)
        except ValueError:
            raise LinkRefused(403, "invalid_link", "expires must be a unix time") from None
        valid = any(
            hmac.compare_digest(self._sign(key, consent_id, until), signature) for key in self._keys
        )
        if not valid:
            raise LinkRefused(403, "invalid_link", "the signature does not match this link")
        if now.timestamp() >= until:
            raise LinkRefused(410, "link_expired", "this consent link has expired")

    @staticmethod
    def _sign(key: bytes, consent_id: str, expires: int) -> str:
        message = f"{consent_id}.{expires}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()
