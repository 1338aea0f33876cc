"""One injected clock, so tests and replays control time."""

from __future__ import annotations

import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Deadline:
    """A moment on a clock's monotonic scale by which something must be done.

    Durations come in with their unit in the name (ms, s); what is left comes out in
    seconds, which is what asyncio's timeouts take.
    """

    at: float
    """monotonic seconds"""

    @classmethod
    def after_ms(cls, clock: Clock, ms: float, *, start: float | None = None) -> Deadline:
        """ms after start (monotonic seconds; now when not given)."""
        return cls((clock.monotonic() if start is None else start) + ms / 1000)

    def earlier_ms(self, ms: float) -> Deadline:
        """A deadline ms before this one (a margin kept for what comes after)."""
        return Deadline(self.at - ms / 1000)

    def left_s(self, clock: Clock, *, lateness_s: float = 0.0) -> float:
        """Seconds left now (negative once passed), cut by how late timers fire."""
        return self.at - clock.monotonic() - lateness_s

    def passed(self, clock: Clock, *, grace_ms: float = 0.0) -> bool:
        """Whether it passed more than grace_ms ago."""
        return clock.monotonic() > self.at + grace_ms / 1000
