"""Cap windows: which minute, hour, day, week and month a moment falls in, in the campaign's
zone; a lifetime cap has one window for ever."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from pingtree.buyers.model import Campaign, Period


def campaign_zone(campaign: Campaign) -> ZoneInfo:
    """The zone a campaign's days start in: its schedule's, else UTC."""
    return ZoneInfo(campaign.schedule.timezone if campaign.schedule else "UTC")


def window_key(period: Period, at: datetime) -> str:
    """A stable name for the window of period containing at (already in local time)."""
    if period == "minute":
        return at.strftime("%Y-%m-%dT%H:%M")
    if period == "lifetime":
        return "all"
    if period == "hourly":
        return at.strftime("%Y-%m-%dT%H")
    if period == "daily":
        return at.strftime("%Y-%m-%d")
    if period == "weekly":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    return at.strftime("%Y-%m")


def cap_windows(campaign: Campaign, at: datetime) -> tuple[tuple[Period, str], ...]:
    """(period, window) for each capped period of the campaign at a moment."""
    limits = campaign.caps.limits()
    if not limits:
        return ()
    return _windows(campaign_zone(campaign), at, tuple(period for period, _, _ in limits))


@lru_cache(maxsize=1024)
def _windows(
    zone: ZoneInfo, at: datetime, periods: tuple[Period, ...]
) -> tuple[tuple[Period, str], ...]:
    # Campaigns share zones and periods: each lead's windows are worked out once per zone.
    local = at.astimezone(zone)
    return tuple((period, window_key(period, local)) for period in periods)
