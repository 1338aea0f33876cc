"""Operator tokens and console session ids: random, shown once, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "pto_"


def new_token() -> str:
    """A new operator token: 256 random bits, with a prefix that says what it is."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_id() -> str:
    """A new console session id (the cookie's value)."""
    return secrets.token_urlsafe(32)


def token_hash(value: str) -> str:
    """The SHA-256 (hex) kept in place of a token or session id.

    A plain hash is enough: the values are high-entropy random strings, not passwords.
    """
    return hashlib.sha256(value.encode()).hexdigest()


def same(given: str, expected: str) -> bool:
    """Whether two secrets (or their hashes) are equal, in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())
