"""Derived fields, computed in one place when a lead is taken: hour and weekday of a moment
in a zone, age in whole years from a date of birth."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from pingtree.verticals.model import RECEIVED_AT, Derived, Vertical

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def derive(
    vertical: Vertical, clean: dict[str, Any], received_at: datetime | None
) -> dict[str, Any]:
    """The vertical's derived fields for already-cleaned fields; a field whose source is
    absent (or received_at unknown) is absent too."""
    out: dict[str, Any] = {}
    for spec in vertical.derived_fields:
        assert spec.derived is not None
        value = _compute(spec.derived, clean, received_at)
        if value is not None:
            out[spec.name] = value
    return out


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _compute(rule: Derived, clean: dict[str, Any], received_at: datetime | None) -> Any:
    zone = _zone(rule.zone)
    source = rule.source
    raw = received_at if source == RECEIVED_AT else clean.get(source)
    if raw is None:
        return None
    if rule.age_from is not None:
        if received_at is None:
            return None
        return age(_day(raw, zone), received_at.astimezone(zone).date())
    moment = _moment(raw, zone)
    if rule.hour_of is not None:
        return moment.hour if isinstance(moment, datetime) else None
    return WEEKDAYS[moment.weekday()]


def _moment(raw: Any, zone: ZoneInfo) -> datetime | date:
    """A timestamp (aware datetime or ISO text) in zone; a date stays a date."""
    if isinstance(raw, datetime):
        return raw.astimezone(zone)
    text = str(raw)
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text).astimezone(zone)


def _day(raw: Any, zone: ZoneInfo) -> date:
    moment = _moment(raw, zone)
    return moment.date() if isinstance(moment, datetime) else moment


def age(born: date, on: date) -> int | None:
    """Whole years from born to on; None when born is after on."""
    if born > on:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
