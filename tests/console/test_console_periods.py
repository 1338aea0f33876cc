"""Periods in the operator's time zone, as UTC bounds, cut in hours or local days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pingtree.console import periods

NOW = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)  # 10:00 in New York, the day clocks go forward


def test_today_is_the_local_day() -> None:
    w = periods.window("today", now=NOW, tz="America/New_York")
    assert (w.since, w.until) == (
        datetime(2026, 3, 8, 5, 0, tzinfo=UTC),
        datetime(2026, 3, 9, 4, 0, tzinfo=UTC),  # a 23-hour day
    )
    assert w.hourly and len(periods.buckets(w)) == 23


def test_days_back_and_custom_dates_take_whole_local_days() -> None:
    week = periods.window("7d", now=NOW, tz="UTC")
    assert week.since == datetime(2026, 3, 2, tzinfo=UTC) and not week.hourly
    assert [start.day for start, _ in periods.buckets(week)] == [2, 3, 4, 5, 6, 7, 8]
    custom = periods.window(None, now=NOW, tz="Asia/Tokyo", since="2026-03-01", until="2026-03-01")
    assert (custom.since, custom.until) == (
        datetime(2026, 2, 28, 15, tzinfo=UTC),
        datetime(2026, 3, 1, 15, tzinfo=UTC),
    )
    assert custom.label() == "2026-03-01 (Asia/Tokyo)"
    hour = periods.window(
        None, now=NOW, tz="UTC", since="2026-03-01T14:00", until="2026-03-01T15:00"
    )
    assert hour.until is not None and hour.since is not None
    assert hour.until - hour.since == timedelta(hours=1)


def test_bad_periods_name_what_is_wrong() -> None:
    with pytest.raises(periods.BadPeriod, match="tz: unknown time zone 'Mars/Base'"):
        periods.window("today", now=NOW, tz="Mars/Base")
    with pytest.raises(periods.BadPeriod, match="from: 'yesterday-ish' is not a date"):
        periods.window(None, now=NOW, since="yesterday-ish")
    with pytest.raises(periods.BadPeriod, match="to: must be after from"):
        periods.window(None, now=NOW, since="2026-03-05", until="2026-03-01")
    with pytest.raises(periods.BadPeriod, match="period: 'forever'"):
        periods.window("forever", now=NOW)
