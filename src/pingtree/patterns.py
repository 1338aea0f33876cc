"""An operator's regular expressions, run on what publishers and buyers send, in bounded time.

The pattern is the operator's (a field's `regex`, a campaign's `regex` filter, a response
rule's `matches` or `regex` source); the text is not: a publisher's field value, a buyer's
answer of up to a megabyte. Python's `re` has no time limit, and a pattern that backtracks
(`^(a|a)*$`) on a text made for it runs for minutes inside one call, on the event loop:
every lead in flight on that process would miss its deadline. Patterns here are compiled
by the `regex` package, which reads re's syntax the same way, avoids much of the
backtracking re does, and stops a match at a time limit: a search that runs past LIMIT_S
raises TooSlow, and each caller says what that means for the thing it was deciding (the
buyer's answer is unreadable, the campaign is not eligible, the field is refused).

The limit is a call's, not a lead's: a lead whose value defeats the patterns of several
campaigns' filters, or ten buyers' answers that each defeat their rules, cost the loop
LIMIT_S each.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any

import regex

LIMIT_S = 0.1
"""How long one search (or one scan for matches) may run. A pattern that does not backtrack
takes microseconds on a lead's field and at most a few milliseconds on a megabyte answer
(measured: under 5 ms); one that backtracks is cut off here, so one answer or lead costs the
loop at most this much."""


class TooSlow(Exception):
    """A pattern ran past LIMIT_S on a text: it backtracks on it, and was cut off."""

    def __init__(self, pattern: str) -> None:
        super().__init__(
            f"the pattern {pattern!r} ran past {LIMIT_S * 1000:.0f} ms on this text "
            "(it backtracks) and was stopped"
        )
        self.pattern = pattern


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled pattern whose every match is bounded by LIMIT_S."""

    source: str
    compiled: Any
    """regex's compiled pattern."""

    @property
    def groups(self) -> int:
        return int(self.compiled.groups)

    def search(self, text: str) -> Any:
        """The first match anywhere in text (regex's Match, as re's), or None."""
        try:
            return self.compiled.search(text, timeout=LIMIT_S)
        except TimeoutError:
            raise TooSlow(self.source) from None

    def fullmatch(self, text: str) -> Any:
        """A match of the whole text, or None."""
        try:
            return self.compiled.fullmatch(text, timeout=LIMIT_S)
        except TimeoutError:
            raise TooSlow(self.source) from None

    def finditer(self, text: str, most: int) -> list[Any]:
        """The first `most` matches over text, left to right, found within LIMIT_S."""
        try:
            return list(islice(self.compiled.finditer(text, timeout=LIMIT_S), most))
        except TimeoutError:
            raise TooSlow(self.source) from None


@lru_cache(maxsize=4096)
def compile_pattern(source: str, *, ignore_case: bool = False, ascii: bool = False) -> Pattern:
    """The pattern compiled once; ValueError saying why when it is not a regular expression.

    ignore_case: letters match either case; ascii: \\d, \\w and \\s mean their ASCII
    characters only (as in the languages most operators write patterns for).
    """
    flags = (regex.IGNORECASE if ignore_case else 0) | (regex.ASCII if ascii else 0)
    try:
        compiled = regex.compile(source, flags | regex.VERSION0)
    except regex.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return Pattern(source, compiled)
