"""Outbound signatures: what pingtree signs, and the buyers' example verifying it."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pingtree.delivery.signing import SignatureError, sign, verify

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
SECRET = "whsec-shared-with-the-buyer"
BODY = b'{"zip": "10001", "lead_id": "L1"}'
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "verify_signature.py"


def _buyer_example() -> Callable[..., bool]:
    spec = importlib.util.spec_from_file_location("verify_signature", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    check: Callable[..., bool] = module.verify_pingtree_signature
    return check


def test_the_header_is_timestamp_and_hmac_of_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, NOW)
    timestamp = int(NOW.timestamp())
    assert header.startswith(f"t={timestamp},v1=")
    assert len(header.split("v1=")[1]) == 64
    verify(SECRET, BODY, header, NOW)


@pytest.mark.parametrize(
    ("secret", "body", "age_s", "why"),
    [
        (SECRET, BODY.replace(b"10001", b"10002"), 0, "no v1 signature matches"),
        ("another-secret", BODY, 0, "no v1 signature matches"),
        (SECRET, BODY, 301, "outside the 300s tolerance"),
        (SECRET, BODY, -301, "outside the 300s tolerance"),
    ],
)
def test_tampered_body_wrong_secret_or_old_timestamp_fail(
    secret: str, body: bytes, age_s: int, why: str
) -> None:
    header = sign(SECRET, BODY, NOW - timedelta(seconds=age_s))
    with pytest.raises(SignatureError, match=why):
        verify(secret, body, header, NOW)
    assert not _buyer_example()(secret, body, header, now=NOW.timestamp())


def test_the_buyers_example_accepts_a_real_signature() -> None:
    header = sign(SECRET, BODY, NOW - timedelta(seconds=30))
    assert _buyer_example()(SECRET, BODY, header, now=NOW.timestamp())
    assert not _buyer_example()(SECRET, BODY, "v1=abc", now=NOW.timestamp())
