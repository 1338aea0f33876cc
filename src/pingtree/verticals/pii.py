"""The one rule for what a ping may carry: never a field the vertical marks PII."""

from __future__ import annotations

from typing import Any

from pingtree.verticals.model import Vertical


def ping_fields(
    vertical: Vertical, fields: dict[str, Any], allowed: list[str] | None = None
) -> dict[str, Any]:
    """The lead's fields a ping may carry: non-PII, known to the vertical, and allowed."""
    pii = vertical.pii_fields
    known = {spec.name for spec in vertical.fields}
    keep = known - pii if allowed is None else set(allowed) & known - pii
    return {name: value for name, value in fields.items() if name in keep}
