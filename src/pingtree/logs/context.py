"""The lead being worked on, in a contextvar set by intake.

Tasks started while it is set (the lead's background record, its pings and posts) copy it,
so every log line of the lead's path can name it without passing it along.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_lead: ContextVar[str | None] = ContextVar("pingtree_lead_id", default=None)


def current_lead() -> str | None:
    """The id of the lead whose path this code is on, if any."""
    return _lead.get()


@contextmanager
def for_lead(lead_id: str) -> Iterator[None]:
    """Mark the code inside (and tasks it starts) as working on this lead."""
    token = _lead.set(lead_id)
    try:
        yield
    finally:
        _lead.reset(token)
