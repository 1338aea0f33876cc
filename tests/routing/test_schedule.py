"""Schedules are read in their own zone: pure, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from pydantic import ValidationError

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
    # Half-open: open until 16:59:59.999999 local, closed from 17:00 on.
    assert business.is_open(datetime(2026, 11, 25, 21, 59, 59, 999999, tzinfo=UTC))
    assert not business.is_open(datetime(2026, 11, 25, 22, 0, tzinfo=UTC))


def test_the_local_day_decides_not_the_utc_day() -> None:
    monday_only = _schedule("Pacific/Kiritimati", ["mon"], "00:00", "23:59")
    # Sunday 2026-11-29 12:00 UTC is already Monday 02:00 at UTC+14.
    assert monday_only.is_open(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    assert not monday_only.is_open(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))  # Tuesday there


def _windows(*windows: tuple[str, str], dates_off: list[str] | None = None) -> CompiledSchedule:
    return CompiledSchedule(
        Schedule.model_validate(
            {
                "timezone": "UTC",
                "windows": [{"start": start, "end": end} for start, end in windows],
                "dates_off": dates_off or [],
            }
        )
    )


def _at(hour: int, minute: int, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 11, 25, hour, minute, second, micro, tzinfo=UTC)


def test_the_default_all_day_window_has_no_hole_at_the_end_of_the_day() -> None:
    all_day = CompiledSchedule(Schedule.model_validate({"windows": [{}]}))
    assert all_day.is_open(_at(23, 59, 59, 999_999))
    assert all_day.is_open(_at(0, 0))
    assert all_day.is_open(_at(23, 59, 59, 513_000))


def test_a_window_may_end_at_24_00() -> None:
    evening = _windows(("18:00", "24:00"))
    assert evening.is_open(_at(23, 59, 59, 999_999))
    assert not evening.is_open(_at(17, 59, 59, 999_999))
    assert Schedule.model_validate({"windows": [{"end": "24:00:00"}]}).windows[0].end == "24:00"


@pytest.mark.parametrize("end", ["23:59:59", "23:59"])
def test_old_all_day_ends_mean_the_end_of_the_day(end: str) -> None:
    assert _windows(("00:00", end)).is_open(_at(23, 59, 59, 999_999))


def test_a_window_ending_on_second_59_and_the_next_one_leave_no_hole() -> None:
    split = _windows(("09:00", "13:59:59"), ("14:00", "17:00"))
    assert split.is_open(_at(13, 59, 59, 513_000))  # refused before: the visitor
    assert split.is_open(_at(14, 0))
    assert not split.is_open(_at(17, 0))
    assert not split.is_open(_at(8, 59, 59, 999_999))
    assert split.is_open(_at(9, 0))


def test_an_end_is_excluded_to_the_microsecond() -> None:
    morning = _windows(("09:00", "12:30"))
    assert morning.is_open(_at(12, 29, 59, 999_999))
    assert not morning.is_open(_at(12, 30))


def test_a_window_cannot_end_before_it_starts_and_24_00_is_no_start() -> None:
    with pytest.raises(ValidationError, match="end must be after start"):
        Schedule.model_validate({"windows": [{"start": "10:00", "end": "09:00"}]})
    with pytest.raises(ValidationError):
        Schedule.model_validate({"windows": [{"start": "24:00"}]})


def test_dates_off_close_the_whole_local_day() -> None:
    schedule = CompiledSchedule(
        Schedule.model_validate(
            {"timezone": "America/New_York", "dates_off": ["2026-12-25"]}  # default: all day
        )
    )
    # 2026-12-25 04:59 UTC is still the 24th in New York; 05:00 UTC is the 25th.
    assert schedule.is_open(datetime(2026, 12, 25, 4, 59, tzinfo=UTC))
    assert schedule.why_closed(datetime(2026, 12, 25, 5, 0, tzinfo=UTC)) == (
        "date off 2026-12-25 (America/New_York)"
    )
    assert not schedule.is_open(datetime(2026, 12, 26, 4, 59, tzinfo=UTC))
    assert schedule.is_open(datetime(2026, 12, 26, 5, 0, tzinfo=UTC))
    assert Schedule.model_validate({"dates_off": ["2026-12-25"]}).dates_off == [date(2026, 12, 25)]


def test_a_plain_end_time_is_kept_as_written() -> None:
    window = Schedule.model_validate({"windows": [{"end": "17:00"}]}).windows[0]
    assert window.end == time(17, 0)
