"""Suppression lists (do-not-contact): parse uploads, hash values, name the list."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Literal

from pingtree.identity import suppression_hash

Kind = Literal["email", "phone"]


@dataclass
class ParsedList:
    """Hashed entries from an upload, and the rows that could not be read."""

    entries: list[tuple[Kind, str]] = field(default_factory=list)
    bad_rows: list[str] = field(default_factory=list)


def hash_values(kind: Kind, values: list[str], parsed: ParsedList | None = None) -> ParsedList:
    """Normalise and hash values; the raw values are never kept."""
    parsed = parsed or ParsedList()
    for value in values:
        hashed = suppression_hash(kind, value)
        if hashed is None:
            parsed.bad_rows.append(f"{kind} {value[:3]}...: not a valid {kind}")
        else:
            parsed.entries.append((kind, hashed))
    return parsed


def parse_csv(text: str) -> ParsedList:
    """Read a CSV with an `email` and/or `phone` column (or one unnamed column of either)."""
    parsed = ParsedList()
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return parsed
    header = [h.strip().lower() for h in rows[0]]
    columns: dict[int, Kind] = {}
    for i, name in enumerate(header):
        if name == "email":
            columns[i] = "email"
        elif name == "phone":
            columns[i] = "phone"
    body = rows[1:]
    if not columns:
        # No header: one value per line, told apart by the @.
        body = rows
        for n, row in enumerate(body, start=1):
            if not row or not row[0].strip():
                continue
            value = row[0].strip()
            kind: Kind = "email" if "@" in value else "phone"
            _add(parsed, kind, value, n)
        return parsed
    for n, row in enumerate(body, start=2):
        for i, kind in columns.items():
            if i < len(row) and row[i].strip():
                _add(parsed, kind, row[i].strip(), n)
    return parsed


def _add(parsed: ParsedList, kind: Kind, value: str, line: int) -> None:
    hashed = suppression_hash(kind, value)
    if hashed is None:
        parsed.bad_rows.append(f"line {line}: not a valid {kind}")
    else:
        parsed.entries.append((kind, hashed))
