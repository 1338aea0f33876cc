"""Report periods: hours, days or weeks in a chosen time zone, as runs of 15-minute slots.

Rollups count in 15-minute UTC slots; every real zone's offset is a multiple of 15
minutes, so each local hour, day and week (DST days of 23 or 25 hours included) is a whole
run of slots, and a report adds slots up without ever splitting one.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pingtree.reporting.events import SLOT_S, slot


class By(StrEnum):
    """How a report's rows are split over time."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    TOTAL = "total"


LONGEST_DAYS = {By.HOUR: 93, By.DAY: 1100, By.WEEK: 3660, By.TOTAL: 3660}
"""The longest range each split may cover (a year of hours would be 8,760 rows per key)."""


class PeriodError(ValueError):
    """A report range that cannot be served; the message says why."""


@dataclass(frozen=True)
class Period:
    """One row's time: [start, end) as slots, and its local start as the label."""

    label: str
    first: int
    end: int

    @property
    def start_at(self) -> datetime:
        """Its start (UTC)."""
        return datetime.fromtimestamp(self.first * SLOT_S, UTC)

    @property
    def end_at(self) -> datetime:
        """Its end, excluded (UTC)."""
        return datetime.fromtimestamp(self.end * SLOT_S, UTC)


@dataclass(frozen=True)
class Run:
    """Consecutive periods of one length: the database adds their slots up in one pass,
    grouped by (slot - first) // length; group g is period offset + g."""

    first: int
    end: int
    length: int
    offset: int


@dataclass(frozen=True)
class Periods:
    """The periods of a report and how slots fall into them."""

    periods: list[Period]
    step: int
    """Slots per group if the database grouped the whole range at once: every period is
    a whole number of steps (an hour around a DST change, a day otherwise)."""

    @property
    def first(self) -> int:
        return self.periods[0].first

    @property
    def end(self) -> int:
        return self.periods[-1].end

    def index(self, group: int) -> int:
        """The period a group (slot offset // step) falls in."""
        starts = [p.first for p in self.periods]
        return bisect_right(starts, self.first + group * self.step) - 1

    def runs(self) -> list[Run]:
        """The periods as runs of equal length (a DST change, a partial week, start new ones)."""
        out: list[Run] = []
        for at, period in enumerate(self.periods):
            length = period.end - period.first
            last = out[-1] if out else None
            if last is not None and last.length == length and last.end == period.first:
                out[-1] = Run(last.first, period.end, length, last.offset)
            else:
                out.append(Run(period.first, period.end, length, at))
        return out


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone called name (PeriodError when there is none)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"unknown IANA time zone {name!r} (e.g. America/New_York, UTC)") from None


def default_range(today: date, start: date | None, end: date | None) -> tuple[date, date]:
    """The days a report covers: the 7 days ending today unless given."""
    end = end or (today if start is None else max(start, today))
    return (start or end - timedelta(days=6)), end


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The moment a local day starts."""
    return datetime.combine(day, time(0), tzinfo=zone)


def periods(start: date, end: date, zone: ZoneInfo, by: By) -> Periods:
    """The periods from local start to local end (both days included), split by `by`."""
    if end < start:
        raise PeriodError(f"end {end} is before start {start}")
    days = (end - start).days + 1
    if days > LONGEST_DAYS[by]:
        raise PeriodError(f"a report by {by.value} covers at most {LONGEST_DAYS[by]} days")
    lo = slot(local_midnight(start, zone))
    hi = slot(local_midnight(end + timedelta(days=1), zone))
    starts: list[tuple[int, str]]
    if by is By.TOTAL:
        starts = [(lo, start.isoformat())]
    elif by is By.DAY:
        starts = [
            (slot(local_midnight(d, zone)), d.isoformat())
            for d in (start + timedelta(days=i) for i in range(days))
        ]
    elif by is By.WEEK:
        monday = start - timedelta(days=start.weekday())
        starts = [(lo, monday.isoformat())]
        while (monday := monday + timedelta(days=7)) <= end:
            starts.append((slot(local_midnight(monday, zone)), monday.isoformat()))
    else:
        starts = _hours(lo, hi, zone)
    bounds = [first for first, _ in starts] + [hi]
    found = [
        Period(label, first, after)
        for (first, label), after in zip(starts, bounds[1:], strict=True)
        if after > first
    ]
    step = 0
    for bound in bounds:
        step = math.gcd(step, bound - lo)
    return Periods(found, step or 1)


def _hours(lo: int, hi: int, zone: ZoneInfo) -> list[tuple[int, str]]:
    """Each local hour's first slot and label (a repeated hour keeps its own offset)."""
    out: list[tuple[int, str]] = []
    last = None
    for s in range(lo, hi):
        local = datetime.fromtimestamp(s * SLOT_S, zone)
        hour = local.replace(minute=0, second=0, microsecond=0)
        key = (hour, local.utcoffset())
        if key != last:
            out.append((s, hour.isoformat()))
            last = key
    return out
