"""Encryption at rest: Fernet (AES-128-CBC + HMAC-SHA256) under PINGTREE_SECRET_KEY.

The setting holds one key or several, comma-separated, newest first: values are encrypted
with the first and opened with any, so a key is rotated by putting the new one in front,
running `pingtree secrets rotate-key`, then removing the old one.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pingtree.credentials.refs import ENCRYPTED


class SecretKeyError(ValueError):
    """A stored secret cannot be opened with the keys configured."""


class SecretKeys:
    """The configured keys: encrypt with the newest, open with any."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("no key given")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
            self._raw = [base64.urlsafe_b64decode(key.encode()) for key in keys]
        except ValueError as exc:
            raise ValueError(
                "PINGTREE_SECRET_KEY must hold Fernet keys (32 url-safe base64 bytes each); "
                "make one with `pingtree secrets generate-key`"
            ) from exc

    @classmethod
    def parse(cls, setting: str | None) -> SecretKeys | None:
        """The keys of a comma-separated setting, or None when it is empty."""
        keys = [k.strip() for k in (setting or "").split(",") if k.strip()]
        return cls(keys) if keys else None

    @staticmethod
    def generate() -> str:
        """A new random key."""
        return Fernet.generate_key().decode()

    def derive(self, purpose: str) -> list[bytes]:
        """A 32-byte key for one purpose (HKDF-SHA256) from each key, newest first.

        Sign with the first, accept any: rotating PINGTREE_SECRET_KEY as for secrets keeps
        what the older key signed valid until it is removed.
        """
        return [
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(raw)
            for raw in self._raw
        ]

    def seal(self, value: str) -> str:
        """The value encrypted with the newest key, as an `enc:` string."""
        return ENCRYPTED + self._fernet.encrypt(value.encode()).decode()

    def open(self, sealed: str) -> str:
        """The value of an `enc:` string."""
        try:
            return self._fernet.decrypt(sealed.removeprefix(ENCRYPTED).encode()).decode()
        except InvalidToken:
            raise SecretKeyError("cannot be decrypted with PINGTREE_SECRET_KEY") from None

    def rotate(self, sealed: str) -> str:
        """The same value encrypted again with the newest key."""
        try:
            return ENCRYPTED + self._fernet.rotate(sealed.removeprefix(ENCRYPTED).encode()).decode()
        except InvalidToken:
            raise SecretKeyError("cannot be decrypted with PINGTREE_SECRET_KEY") from None
