"""One injected clock, so tests and replays control time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Wall time for records and schedules; monotonic seconds for deadlines."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """Wall time set by hand (schedules, cap windows, dedup windows); monotonic time runs.

    Deadlines still need real seconds against real buyers, so monotonic() follows the
    machine, shifted by whatever advance() added.
    """

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = now
        self._shift = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return time.monotonic() + self._shift

    def set(self, now: datetime) -> None:
        """Jump wall time (monotonic time is left alone: it never goes back)."""
        self._now = now

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self._now += timedelta(seconds=seconds)
        self._shift += seconds
