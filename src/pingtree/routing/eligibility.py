"""Eligibility: may this campaign be offered this lead now? Filters, schedule, caps.

Filters are compiled once per configuration so that checking a thousand campaigns stays
well under a millisecond per lead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pingtree.buyers.model import DAYS, Campaign, Filter, FilterOp, Schedule

Predicate = Callable[[Mapping[str, Any]], bool]


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    return str(value).strip().lower()


def compile_filter(flt: Filter) -> Predicate:
    """A fast predicate for one filter; a missing field fails every operator but exists."""
    name = flt.field
    op = flt.op
    if op is FilterOp.EXISTS:
        want = flt.value is not False
        return lambda f: (f.get(name) not in (None, "")) is want
    if op is FilterOp.EQUALS:
        target = flt.value
        target_num = _number(target)
        target_text = _text(target)

        def equals(f: Mapping[str, Any]) -> bool:
            value = f.get(name)
            if value is None:
                return False
            if target_num is not None and (num := _number(value)) is not None:
                return num == target_num
            return _text(value) == target_text

        return equals
    if op in (FilterOp.IN, FilterOp.NOT_IN):
        members = frozenset(_text(v) for v in flt.values or ())
        inside = op is FilterOp.IN
        return lambda f: f.get(name) is not None and (_text(f[name]) in members) is inside
    if op is FilterOp.RANGE:
        low, high = flt.min, flt.max

        def in_range(f: Mapping[str, Any]) -> bool:
            num = _number(f.get(name))
            if num is None:
                return False
            return (low is None or num >= low) and (high is None or num <= high)

        return in_range
    if op is FilterOp.REGEX:
        pattern = re.compile(flt.pattern or "")
        return lambda f: f.get(name) is not None and pattern.search(str(f[name])) is not None
    if op is FilterOp.ZIP_LIST:
        full = frozenset(v for v in flt.values or () if len(v) == 5)
        prefixes = frozenset(v for v in flt.values or () if len(v) < 5)

        def zip_listed(f: Mapping[str, Any]) -> bool:
            value = f.get(name)
            if value is None:
                return False
            zip5 = str(value).strip()[:5]
            return zip5 in full or zip5[:3] in prefixes

        return zip_listed
    raise ValueError(f"unknown filter operator {op}")  # pragma: no cover - enum is closed


def describe_filter(flt: Filter) -> str:
    """How a filter reads in a lead's timeline."""
    if flt.op is FilterOp.RANGE:
        return f"{flt.field} range [{flt.min}, {flt.max}]"
    if flt.op in (FilterOp.IN, FilterOp.NOT_IN, FilterOp.ZIP_LIST):
        shown = ", ".join((flt.values or [])[:5])
        more = "..." if len(flt.values or []) > 5 else ""
        return f"{flt.field} {flt.op.value} [{shown}{more}]"
    if flt.op is FilterOp.REGEX:
        return f"{flt.field} regex {flt.pattern}"
    if flt.op is FilterOp.EXISTS:
        return f"{flt.field} exists"
    return f"{flt.field} equals {flt.value}"


class CompiledSchedule:
    """A schedule as (weekday -> [(start, end)]) in its own zone."""

    def __init__(self, schedule: Schedule) -> None:
        self.zone = ZoneInfo(schedule.timezone)
        self.timezone = schedule.timezone
        self.by_day: dict[int, list[tuple[time, time]]] = {i: [] for i in range(7)}
        for window in schedule.windows:
            for day in window.days:
                self.by_day[DAYS.index(day)].append((window.start, window.end))

    def is_open(self, now: datetime) -> bool:
        """Whether now (aware UTC) falls in a window, read in the schedule's zone."""
        local = now.astimezone(self.zone)
        moment = local.time().replace(tzinfo=None)
        return any(start <= moment <= end for start, end in self.by_day[local.weekday()])


class CompiledCampaign:
    """A campaign with its filters and schedule ready to evaluate."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.filters = [(compile_filter(f), f) for f in campaign.filters]
        self.schedule = CompiledSchedule(campaign.schedule) if campaign.schedule else None

    def failed_filter(self, fields: Mapping[str, Any]) -> Filter | None:
        """The first filter the lead fails, or None when all pass."""
        for predicate, flt in self.filters:
            if not predicate(fields):
                return flt
        return None
