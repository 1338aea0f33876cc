"""Canonical JSON and SHA-256: how consent certificates and audit events are fixed in bytes.

A leaf module: consent and audit both import it, it imports nothing of pingtree's.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
).encode  # made once: json.dumps with options builds an encoder per call


def canonical_json(value: Any) -> str:
    """JSON that reads the same wherever it is written: sorted keys, no spaces, ASCII only."""
    return _CANONICAL(value)


def sha256_hex(text: str) -> str:
    """SHA-256 (hex) of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode()).hexdigest()
