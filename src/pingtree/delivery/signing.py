"""Outbound signatures: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (Stripe-style).

The timestamp is inside what is signed, so a buyer that refuses old timestamps cannot be
sent a captured request again later; the body is signed byte for byte as sent.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

DEFAULT_TOLERANCE_S = 300.0


class SignatureError(ValueError):
    """A signature header that does not prove the request came from pingtree just now."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" under the secret."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: datetime) -> str:
    """The signature header's value for a body sent now."""
    timestamp = int(now.timestamp())
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    now: datetime,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Check a signature header as a buyer would; raises SignatureError saying why not."""
    if not header:
        raise SignatureError("no signature header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("no timestamp (t=) in the signature header") from None
    if abs(now.timestamp() - timestamp) > tolerance_s:
        raise SignatureError(f"timestamp outside the {tolerance_s:g}s tolerance")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise SignatureError("no v1 signature matches the body")
