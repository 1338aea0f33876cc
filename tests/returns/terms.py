"""Configuration documents with buyers' and publishers' money terms, for tests."""

from __future__ import annotations

from typing import Any

from pingtree.config.document import ConfigDocument

BUYER_KEYS = {"apex": "apex-buyer-key-0000000000", "zenith": "zenith-buyer-key-000000000"}


def with_terms(
    document: ConfigDocument,
    *,
    buyers: dict[str, dict[str, Any]] | None = None,
    publisher: dict[str, Any] | None = None,
) -> ConfigDocument:
    """The document with each named buyer's terms (and API key) and the publisher's."""
    data = document.model_dump(mode="json", exclude_none=True)
    for buyer in data["buyers"]:
        terms = (buyers or {}).get(buyer["name"])
        if terms is not None:
            buyer.update({"api_key": BUYER_KEYS.get(buyer["name"]), **terms})
    data["publishers"][0].update(publisher or {})
    return ConfigDocument.model_validate(data)


def buyer_key(name: str) -> dict[str, str]:
    """The X-Buyer-Key header of a test buyer."""
    return {"X-Buyer-Key": BUYER_KEYS[name]}
