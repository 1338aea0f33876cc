"""The period a page looks at, in the time zone the operator chose.

Dates and times in addresses are local to that zone (`from=2026-03-01`, `to=2026-03-07`
takes both whole days; `from=2026-03-01T14:00&to=2026-03-01T15:00` one hour); queries get
aware UTC bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PeriodName = Literal["today", "yesterday", "7d", "30d", "90d", "custom", "all"]
CHOICES: tuple[tuple[PeriodName, str], ...] = (
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("custom", "From … to …"),
)
DAYS_BACK = {"7d": 7, "30d": 30, "90d": 90}
HOURLY_UP_TO = timedelta(days=2)


class BadPeriod(ValueError):
    """A period, date or zone the page cannot use; the message names which."""


@dataclass(frozen=True)
class Window:
    """A period as UTC bounds (until excluded), with the zone it was chosen in."""

    name: str
    zone: ZoneInfo
    since: datetime | None
    until: datetime | None

    @property
    def hourly(self) -> bool:
        """Whether the charts count per hour (short periods) rather than per day."""
        return (
            self.since is not None
            and self.until is not None
            and self.until - self.since <= HOURLY_UP_TO
        )

    def local(self, moment: datetime) -> datetime:
        """A UTC moment in the chosen zone."""
        return moment.astimezone(self.zone)

    def label(self) -> str:
        """'2026-03-01 – 2026-03-07 (America/New_York)'."""
        if self.since is None:
            return f"all time ({self.zone.key})"
        start = self.local(self.since)
        end = self.local(self.until) if self.until is not None else None
        if end is not None and (start.time(), end.time()) == (time(0), time(0)):
            last = end - timedelta(days=1)
            days = f"{start:%Y-%m-%d}" + (
                f" – {last:%Y-%m-%d}" if last.date() != start.date() else ""
            )
            return f"{days} ({self.zone.key})"
        until = f" – {end:%Y-%m-%d %H:%M}" if end is not None else ""
        return f"{start:%Y-%m-%d %H:%M}{until} ({self.zone.key})"


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone of a name (UTC when none)."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadPeriod(f"tz: unknown time zone {name!r}") from None


def _moment(text: str, tz: ZoneInfo, *, end: bool, field: str) -> datetime:
    """A local date (its midnight; for an end, the next midnight) or date and time, in UTC."""
    try:
        if "T" in text:
            return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)
        day = date.fromisoformat(text)
    except ValueError:
        raise BadPeriod(f"{field}: {text!r} is not a date (YYYY-MM-DD) or time") from None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def window(
    name: str | None,
    *,
    now: datetime,
    tz: str | None = None,
    since: str | None = None,
    until: str | None = None,
    default: PeriodName = "today",
) -> Window:
    """The period a page asked for (from/to make it custom), as UTC bounds."""
    where = zone(tz)
    if since or until:
        start = _moment(since, where, end=False, field="from") if since else None
        end = _moment(until, where, end=True, field="to") if until else None
        if start is not None and end is not None and end <= start:
            raise BadPeriod("to: must be after from")
        return Window("custom", where, start, end)
    chosen = name or default
    midnight = datetime.combine(now.astimezone(where).date(), time(0), where)
    if chosen == "all":
        return Window("all", where, None, None)
    if chosen == "today":
        return Window("today", where, _utc(midnight), _utc(_next_day(midnight, 1)))
    if chosen == "yesterday":
        return Window("yesterday", where, _utc(_next_day(midnight, -1)), _utc(midnight))
    if chosen in DAYS_BACK:
        start = _next_day(midnight, 1 - DAYS_BACK[chosen])
        return Window(chosen, where, _utc(start), _utc(_next_day(midnight, 1)))
    if chosen == "custom":
        return Window("today", where, _utc(midnight), _utc(_next_day(midnight, 1)))
    raise BadPeriod(f"period: {chosen!r} is not one of {', '.join(n for n, _ in CHOICES)}")


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _next_day(midnight: datetime, days: int) -> datetime:
    """Local midnight `days` later (a DST change makes that day 23 or 25 hours)."""
    return datetime.combine(midnight.date() + timedelta(days=days), time(0), midnight.tzinfo)


def buckets(w: Window) -> list[tuple[datetime, datetime]]:
    """The period cut in hours (two days or less) or local days, as UTC bounds."""
    if w.since is None or w.until is None:
        return []
    out: list[tuple[datetime, datetime]] = []
    if w.hourly:
        at = w.since
        while at < w.until:
            out.append((at, min(at + timedelta(hours=1), w.until)))
            at += timedelta(hours=1)
        return out
    day = w.local(w.since)
    midnight = datetime.combine(day.date(), time(0), w.zone)
    while _utc(midnight) < w.until:
        following = _next_day(midnight, 1)
        out.append((max(_utc(midnight), w.since), min(_utc(following), w.until)))
        midnight = following
    return out
