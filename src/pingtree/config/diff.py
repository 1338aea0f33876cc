"""Field-level differences of a stored resource and its new spec, as `apply` prints them."""

from __future__ import annotations

import json
from typing import Any

from pingtree.credentials.at_rest import redact
from pingtree.credentials.masking import MASK
from pingtree.credentials.refs import ENCRYPTED

_ABSENT = object()
_HIDDEN = ("api_key_sha256",)


def field_changes(kind: str, label: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'campaigns/acme.price.amount: 10.00 -> 12.00' for each value that differs.

    Secrets never show: a changed credential reads `(secret changed)`.
    """
    before, after = _flat(redact(kind, old)), _flat(redact(kind, new))
    out: list[str] = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path, _ABSENT), after.get(path, _ABSENT)
        if a == b:
            continue
        if _secret(path, a) or _secret(path, b):
            out.append(f"{label}.{path}: (secret changed)")
        else:
            out.append(f"{label}.{path}: {_show(a)} -> {_show(b)}")
    return out


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves by path; a list of plain values is one leaf, a list of mappings is indexed."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _flat(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list) and any(isinstance(i, dict | list) for i in value):
        out = {}
        for i, item in enumerate(value):
            out |= _flat(item, f"{prefix}[{i}]")
        return out
    return {prefix: value}


def _secret(path: str, value: Any) -> bool:
    if path.rsplit(".", 1)[-1] in _HIDDEN:
        return True
    return isinstance(value, str) and (value.startswith(ENCRYPTED) or value == MASK)


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value)
