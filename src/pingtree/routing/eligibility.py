"""Eligibility: may this campaign be offered this lead now? Filters, schedule, caps.

Filters are compiled once per configuration so that checking a thousand campaigns stays
well under a millisecond per lead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pingtree.buyers.model import DAYS, Buyer, Campaign, Filter, FilterOp, Schedule
from pingtree.routing.model import TierCampaign

if TYPE_CHECKING:
    from pingtree.routing.index import TierIndex


class LeadView:
    """A lead's fields with each value parsed once, however many campaigns look at it."""

    __slots__ = ("_numbers", "_texts", "fields")

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = fields
        self._texts: dict[str, str | None] = {}
        self._numbers: dict[str, Decimal | None] = {}

    def text(self, name: str) -> str | None:
        """The value lower-cased and stripped; None when absent."""
        try:
            return self._texts[name]
        except KeyError:
            value = self.fields.get(name)
            text = None if value is None else _text(value)
            self._texts[name] = text
            return text

    def number(self, name: str) -> Decimal | None:
        """The value as a number; None when absent or not a number."""
        try:
            return self._numbers[name]
        except KeyError:
            number = _number(self.fields.get(name))
            self._numbers[name] = number
            return number


Predicate = Callable[[LeadView], bool]


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
        return lambda lead: (lead.text(name) not in (None, "")) is want
    if op is FilterOp.EQUALS:
        target_num = _number(flt.value)
        target_text = _text(flt.value)

        def equals(lead: LeadView) -> bool:
            if target_num is not None and (num := lead.number(name)) is not None:
                return num == target_num
            return lead.text(name) == target_text

        return equals
    if op in (FilterOp.IN, FilterOp.NOT_IN):
        members = frozenset(_text(v) for v in flt.values or ())
        inside = op is FilterOp.IN

        def listed(lead: LeadView) -> bool:
            text = lead.text(name)
            return text is not None and (text in members) is inside

        return listed
    if op is FilterOp.RANGE:
        low, high = flt.min, flt.max

        def in_range(lead: LeadView) -> bool:
            num = lead.number(name)
            if num is None:
                return False
            return (low is None or num >= low) and (high is None or num <= high)

        return in_range
    if op is FilterOp.REGEX:
        pattern = re.compile(flt.pattern or "")

        def matches(lead: LeadView) -> bool:
            value = lead.fields.get(name)
            return value is not None and pattern.search(str(value)) is not None

        return matches
    if op is FilterOp.ZIP_LIST:
        full = frozenset(v for v in flt.values or () if len(v) == 5)
        prefixes = frozenset(v for v in flt.values or () if len(v) < 5)

        def zip_listed(lead: LeadView) -> bool:
            text = lead.text(name)
            if text is None:
                return False
            zip5 = text[:5]
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
        weekday, moment = _local(self.zone, now)
        return any(start <= moment <= end for start, end in self.by_day[weekday])


@lru_cache(maxsize=512)
def _local(zone: ZoneInfo, now: datetime) -> tuple[int, time]:
    # Many campaigns share a zone: convert each lead's moment once per zone.
    local = now.astimezone(zone)
    return local.weekday(), local.time().replace(tzinfo=None)


class CompiledCampaign:
    """A campaign with its filters and schedule ready to evaluate."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.filters = [(compile_filter(f), describe_filter(f)) for f in campaign.filters]
        self.schedule = CompiledSchedule(campaign.schedule) if campaign.schedule else None

    def failed_filter(self, lead: LeadView) -> str | None:
        """How the first filter the lead fails reads, or None when all pass."""
        for predicate, description in self.filters:
            if not predicate(lead):
                return description
        return None


# Why a campaign was not offered a lead, as the timeline and reports name it.
INACTIVE = "inactive"
BUYER_INACTIVE = "buyer_inactive"
BLOCKED = "blocked"
ALREADY_SOLD_TO_BUYER = "already_sold_to_buyer"
FILTER = "filter"
SCHEDULE = "schedule"
CAP = "cap"


CapRoom = Callable[[Campaign, datetime], "str | None"]
Excluded = tuple[str, str, str]  # campaign, reason, detail


def eligible(
    entries: Sequence[TierCampaign],
    *,
    campaigns: Mapping[str, CompiledCampaign],
    buyers: Mapping[str, Buyer],
    lead: LeadView,
    now: datetime,
    room: CapRoom | None,
    blocked: Mapping[str, str],
    sold_to: Collection[str],
    index: TierIndex | None = None,
) -> tuple[list[tuple[TierCampaign, Campaign]], list[Excluded]]:
    """The campaigns of a tier that may be offered the lead now, and why each other may not.

    Checks, in order: active, buyer active, buyer blocked (suppression, recent purchase),
    buyer already bought this lead (shared), filters, schedule, cap room (None: a test lead,
    which counts in no cap). A tier index, when given, rules out most campaigns of a big
    tier in bulk; the ones it lets through get every check.
    """
    offered: list[tuple[TierCampaign, Campaign]] = []
    excluded: list[Excluded] = []
    checks: Sequence[tuple[TierCampaign, bool]]
    if index is not None:
        survivors, excluded = index.screen(lead)
        checks = [(entries[i], recheck) for i, recheck in survivors]
    else:
        checks = [(entry, True) for entry in entries]
    for entry, check_filters in checks:
        compiled = campaigns[entry.campaign]
        campaign = compiled.campaign
        buyer = buyers.get(campaign.buyer)
        reason, detail = "", ""
        if not campaign.active:
            reason = INACTIVE
        elif buyer is None or not buyer.active:
            reason = BUYER_INACTIVE
        elif campaign.buyer in blocked:
            reason, detail = BLOCKED, blocked[campaign.buyer]
        elif campaign.buyer in sold_to:
            reason = ALREADY_SOLD_TO_BUYER
        elif check_filters and (failed := compiled.failed_filter(lead)) is not None:
            reason, detail = FILTER, failed
        elif compiled.schedule is not None and not compiled.schedule.is_open(now):
            reason, detail = SCHEDULE, f"outside schedule ({compiled.schedule.timezone})"
        elif room is not None and (full := room(campaign, now)) is not None:
            reason, detail = CAP, full
        if reason:
            excluded.append((campaign.name, reason, detail))
        else:
            offered.append((entry, campaign))
    return offered, excluded
