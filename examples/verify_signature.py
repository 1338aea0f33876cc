"""How a buyer checks pingtree's signature on a ping or post (Python standard library only).

The header (X-Pingtree-Signature unless configured otherwise) reads `t=<unix time>,v1=<hex>`,
where hex is HMAC-SHA256 of "<t>.<raw request body>" under the secret you share with the
pingtree operator. Verify the raw bytes as received, before parsing them.
"""

import hashlib
import hmac
import time


def verify_pingtree_signature(
    secret: str, body: bytes, header: str, now: float | None = None, tolerance: int = 300
) -> bool:
    """True when the request is signed with the secret and at most `tolerance` seconds old."""
    fields = [item.partition("=") for item in header.split(",")]
    timestamps = [value for key, _, value in fields if key.strip() == "t"]
    signatures = [value for key, _, value in fields if key.strip() == "v1"]
    if not timestamps or not timestamps[0].isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamps[0])) > tolerance:
        return False  # too old (or from the future): a replayed request
    signed = timestamps[0].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, given) for given in signatures)
