"""The one rule for what a ping may carry: never a field the vertical marks PII."""

from __future__ import annotations

from typing import Any

from pingtree.verticals.model import Vertical


def ping_fields(
    vertical: Vertical, fields: dict[str, Any], allowed: list[str] | None = None
) -> dict[str, Any]:
    """The lead's fields a ping may carry: non-PII, known to the vertical, and allowed."""
    keep = vertical.pingable_fields
    if allowed is not None:
        keep = keep & frozenset(allowed)
    return {name: value for name, value in fields.items() if name in keep}
