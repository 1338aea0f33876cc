"""Cap windows: which hour, day, week and month a moment falls in, in the campaign's zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pingtree.buyers.model import Campaign, Period


def campaign_zone(campaign: Campaign) -> ZoneInfo:
    """The zone a campaign's days start in: its schedule's, else UTC."""
    return ZoneInfo(campaign.schedule.timezone if campaign.schedule else "UTC")


def window_key(period: Period, at: datetime) -> str:
    """A stable name for the window of period containing at (already in local time)."""
    if period == "hourly":
        return at.strftime("%Y-%m-%dT%H")
    if period == "daily":
        return at.strftime("%Y-%m-%d")
    if period == "weekly":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    return at.strftime("%Y-%m")


def cap_windows(campaign: Campaign, at: datetime) -> list[tuple[Period, str]]:
    """(period, window) for each capped period of the campaign at a moment."""
    local = at.astimezone(campaign_zone(campaign))
    return [(period, window_key(period, local)) for period, _, _ in campaign.caps.limits()]
