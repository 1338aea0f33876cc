"""A consent certificate as a publisher sends it, for tests to vary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

DISCLOSURE = (
    "By clicking Get Quotes I agree that Apex Insurance and Bluecrest Mutual may call and "
    "text me about insurance at the number I gave, using automated technology. Consent is "
    "not a condition of purchase."
)


def certificate(at: datetime, **changes: Any) -> dict[str, Any]:
    """A complete certificate given at `at`, naming Apex Insurance and Bluecrest Mutual."""
    body: dict[str, Any] = {
        "consented_at": at.isoformat(),
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "page_url": "https://quotes.example.com/auto?step=3",
        "disclosure_text": DISCLOSURE,
        "disclosure_version": "tcpa-2025-01",
        "sellers": ["Apex Insurance", "Bluecrest Mutual"],
        "certificate_url": "https://cert.trustedform.example/0123456789abcdef",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}
