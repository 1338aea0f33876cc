"""Anchors: the chain's head written down outside the database.

A chain alone cannot show that its newest links were cut off, or that someone rewrote it
from some link on; an anchor kept elsewhere (a file, a ticket, an email) can. One anchor a
line: `<seq> <hash> <when>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pingtree.audit.chain import moment

_LINE = re.compile(r"^(\d+) ([0-9a-f]{64})(?: (\S+))?$")


class AnchorError(ValueError):
    """An anchors file that cannot be read."""


@dataclass(frozen=True)
class Anchor:
    """The chain's head at one moment."""

    seq: int
    hash: str
    taken_at: str = ""

    def line(self) -> str:
        """The anchor as written in an anchors file."""
        return f"{self.seq} {self.hash} {self.taken_at}".rstrip()


def anchor(seq: int, hash: str, at: datetime) -> Anchor:
    """An anchor of the head (seq, hash) taken at a moment."""
    return Anchor(seq, hash, moment(at))


def read(path: Path) -> list[Anchor]:
    """Every anchor of a file; AnchorError names the line that is not one."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise AnchorError(f"{path}: cannot read: {exc.strerror}") from None
    found: list[Anchor] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise AnchorError(f"{path}:{number}: not an anchor (<seq> <sha256 hex> [time])")
        found.append(Anchor(int(match[1]), match[2], match[3] or ""))
    return found


def write(path: Path, taken: Anchor) -> None:
    """Add an anchor to a file (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(taken.line() + "\n")
