"""Schedules are read in their own zone: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime

from pingtree.buyers.model import Schedule
from pingtree.routing.eligibility import CompiledSchedule


def _schedule(zone: str, days: list[str], start: str, end: str) -> CompiledSchedule:
    return CompiledSchedule(
        Schedule.model_validate(
            {"timezone": zone, "windows": [{"days": days, "start": start, "end": end}]}
        )
    )


def test_a_weekday_window_is_read_in_the_schedules_zone() -> None:
    business = _schedule("America/New_York", ["mon", "tue", "wed", "thu", "fri"], "09:00", "17:00")
    # Wednesday 2026-11-25: 13:59 UTC is 08:59 in New York, 14:00 UTC is 09:00.
    assert not business.is_open(datetime(2026, 11, 25, 13, 59, tzinfo=UTC))
    assert business.is_open(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))
    assert business.is_open(datetime(2026, 11, 25, 22, 0, tzinfo=UTC))  # 17:00 local, inclusive
    assert not business.is_open(datetime(2026, 11, 25, 22, 1, tzinfo=UTC))


def test_the_local_day_decides_not_the_utc_day() -> None:
    monday_only = _schedule("Pacific/Kiritimati", ["mon"], "00:00", "23:59")
    # Sunday 2026-11-29 12:00 UTC is already Monday 02:00 at UTC+14.
    assert monday_only.is_open(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    assert not monday_only.is_open(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))  # Tuesday there
