"""Cap windows are counted in the campaign's zone: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime

from pingtree.buyers.model import Campaign
from pingtree.sales.windows import cap_windows

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
