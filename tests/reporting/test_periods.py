"""Report periods in a chosen zone: whole runs of 15-minute slots, DST days included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from pingtree.reporting.events import slot
from pingtree.reporting.periods import By, PeriodError, default_range, periods, zone_named

NEW_YORK = ZoneInfo("America/New_York")


def test_a_day_that_falls_back_has_25_hours() -> None:
    found = periods(date(2026, 11, 1), date(2026, 11, 1), NEW_YORK, By.HOUR)
    labels = [p.label for p in found.periods]
    assert len(labels) == 25
    assert labels[1:3] == ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]
    assert found.step == 4  # every hour is four slots
    assert found.periods[0].start_at == datetime(2026, 11, 1, 4, tzinfo=UTC)


def test_days_around_a_change_keep_their_local_midnights() -> None:
    found = periods(date(2026, 10, 31), date(2026, 11, 2), NEW_YORK, By.DAY)
    assert [p.label for p in found.periods] == ["2026-10-31", "2026-11-01", "2026-11-02"]
    assert [p.end - p.first for p in found.periods] == [96, 100, 96]
    assert found.step == 4  # a 25-hour day: groups of an hour fit every boundary
    calm = periods(date(2026, 11, 10), date(2026, 11, 12), NEW_YORK, By.DAY)
    assert calm.step == 96  # no change: the database adds up whole days


def test_half_hour_zones_start_their_hours_at_half_past() -> None:
    found = periods(date(2026, 1, 5), date(2026, 1, 5), ZoneInfo("Asia/Kolkata"), By.HOUR)
    first = found.periods[0]
    assert first.label == "2026-01-05T00:00:00+05:30"
    assert first.start_at == datetime(2026, 1, 4, 18, 30, tzinfo=UTC)
    assert found.step == 4


def test_weeks_start_on_monday_and_the_first_may_be_partial() -> None:
    found = periods(date(2026, 11, 25), date(2026, 12, 9), ZoneInfo("UTC"), By.WEEK)
    assert [p.label for p in found.periods] == ["2026-11-23", "2026-11-30", "2026-12-07"]
    assert found.periods[0].start_at == datetime(2026, 11, 25, tzinfo=UTC)
    assert found.periods[-1].end_at == datetime(2026, 12, 10, tzinfo=UTC)


def test_a_group_maps_to_the_period_it_falls_in() -> None:
    found = periods(date(2026, 11, 1), date(2026, 11, 2), NEW_YORK, By.DAY)
    moment = datetime(2026, 11, 2, 4, 59, tzinfo=UTC)  # 23:59 EST on Nov 1
    group = (slot(moment) - found.first) // found.step
    assert found.periods[found.index(group)].label == "2026-11-01"


def test_bad_ranges_and_zones_say_why() -> None:
    with pytest.raises(PeriodError, match="before start"):
        periods(date(2026, 2, 2), date(2026, 2, 1), NEW_YORK, By.DAY)
    with pytest.raises(PeriodError, match="at most 93 days"):
        periods(date(2026, 1, 1), date(2026, 12, 31), NEW_YORK, By.HOUR)
    with pytest.raises(PeriodError, match="unknown IANA time zone"):
        zone_named("Mars/Olympus")


def test_the_default_range_is_the_last_seven_days() -> None:
    today = date(2026, 11, 25)
    assert default_range(today, None, None) == (date(2026, 11, 19), today)
    assert default_range(today, date(2026, 11, 1), None) == (date(2026, 11, 1), today)
