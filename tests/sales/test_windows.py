"""Cap windows are counted in the campaign's zone: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pingtree.buyers.model import PERIODS, Campaign
from pingtree.sales.windows import cap_windows, window_key

POST = {
    "url": "http://127.0.0.1:1/post",
    "response": {"rules": [{"source": "status", "equals": "200", "outcome": "accepted"}]},
}


def _campaign(timezone: str | None, caps: dict[str, object]) -> Campaign:
    spec: dict[str, object] = {
        "name": "c",
        "buyer": "b",
        "vertical": "auto",
        "price": {"type": "fixed", "amount": "1.00"},
        "delivery": {"post": POST},
        "caps": caps,
    }
    if timezone is not None:
        spec["schedule"] = {"timezone": timezone, "windows": [{}]}
    return Campaign.model_validate(spec)


def test_a_daily_window_starts_at_midnight_in_the_campaigns_zone() -> None:
    campaign = _campaign("America/Los_Angeles", {"daily": 5})
    # 2026-11-26 05:00 UTC is still the 25th in Los Angeles (21:00 PST).
    assert cap_windows(campaign, datetime(2026, 11, 26, 5, 0, tzinfo=UTC)) == (
        ("daily", "2026-11-25"),
    )
    assert cap_windows(campaign, datetime(2026, 11, 26, 8, 0, tzinfo=UTC)) == (
        ("daily", "2026-11-26"),
    )


def test_without_a_schedule_windows_are_utc() -> None:
    campaign = _campaign(None, {"daily": 5})
    assert cap_windows(campaign, datetime(2026, 11, 26, 5, 0, tzinfo=UTC)) == (
        ("daily", "2026-11-26"),
    )


def test_every_capped_period_has_its_window_and_uncapped_ones_none() -> None:
    campaign = _campaign("Asia/Kolkata", {"hourly": 1, "weekly": 9, "budget": {"monthly": "100"}})
    at = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)  # 01:30 on 1 January 2027 in Kolkata
    assert cap_windows(campaign, at) == (
        ("hourly", "2027-01-01T01"),
        ("weekly", "2026-W53"),
        ("monthly", "2027-01"),
    )
    assert cap_windows(_campaign(None, {}), at) == ()


def test_a_minute_cap_counts_per_local_minute_and_a_lifetime_cap_once() -> None:
    campaign = _campaign("Asia/Kolkata", {"minute": 2, "lifetime": 100})
    at = datetime(2026, 12, 31, 20, 0, 59, 999_999, tzinfo=UTC)  # 01:30:59 in Kolkata
    assert cap_windows(campaign, at) == (("minute", "2027-01-01T01:30"), ("lifetime", "all"))
    later = datetime(2026, 12, 31, 20, 1, tzinfo=UTC)
    assert cap_windows(campaign, later) == (("minute", "2027-01-01T01:31"), ("lifetime", "all"))
    assert cap_windows(campaign, datetime(2030, 1, 1, tzinfo=UTC))[1] == ("lifetime", "all")


def test_a_cap_of_zero_closes_the_campaign_and_negative_ones_are_refused() -> None:
    assert _campaign(None, {"daily": 0}).caps.closed == "daily cap 0: closed"
    assert _campaign(None, {"budget": {"lifetime": "0"}}).caps.closed == "lifetime budget 0: closed"
    assert _campaign(None, {"daily": 5, "minute": 1}).caps.closed is None
    with pytest.raises(ValidationError):
        _campaign(None, {"minute": -1})


def test_window_names_fit_the_counter_columns() -> None:
    # cap_counters: period String(8), window String(16)
    for period in PERIODS:
        assert len(period) <= 8
        assert len(window_key(period, datetime(2026, 12, 31, 23, 59, tzinfo=UTC))) <= 16
