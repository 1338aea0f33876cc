"""Eligibility: may this campaign be offered this lead now? Filters, schedule, caps.

Filters are compiled once per configuration so that checking a thousand campaigns stays
well under a millisecond per lead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pingtree.buyers.model import DAYS, Buyer, Campaign, Filter, FilterOp, Schedule, time_us
from pingtree.geo import zips_near
from pingtree.patterns import TooSlow, compile_pattern
from pingtree.routing.model import SkipReason, TierCampaign

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
        """The value case-folded and stripped; None when absent."""
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

    def key(self, name: str, numeric: bool) -> Key | None:
        """What equals / in / not_in compare: the number on a numeric field, else the text."""
        if numeric and (number := self.number(name)) is not None:
            return number
        return self.text(name)


Predicate = Callable[[LeadView], bool]
Key = Decimal | str


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().casefold()


def operand_key(value: Any, numeric: bool) -> Key:
    """A filter operand as a lead's value is compared with it (LeadView.key)."""
    if numeric and (number := _number(value)) is not None:
        return number
    return _text(value)


def near_zips(flt: Filter) -> frozenset[str]:
    """The ZIP codes a near filter takes."""
    assert flt.near is not None
    return zips_near(flt.near.zip, flt.near.miles)


def compile_filter(flt: Filter, numeric: bool = False) -> Predicate:
    """A fast predicate for one filter; a missing field fails every operator but exists.

    numeric: the field is an integer or number field, so equals / in / not_in compare numbers.
    """
    name = flt.field
    op = flt.op
    if op is FilterOp.EXISTS:
        want = flt.value is not False
        return lambda lead: (lead.text(name) not in (None, "")) is want
    if op is FilterOp.EQUALS:
        target = operand_key(flt.value, numeric)
        return lambda lead: lead.key(name, numeric) == target
    if op in (FilterOp.IN, FilterOp.NOT_IN):
        members = frozenset(operand_key(v, numeric) for v in flt.values or ())
        inside = op is FilterOp.IN

        def listed(lead: LeadView) -> bool:
            key = lead.key(name, numeric)
            return key is not None and (key in members) is inside

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
        pattern = compile_pattern(flt.pattern or "", ignore_case=True)

        def matches(lead: LeadView) -> bool:
            value = lead.fields.get(name)
            if value is None:
                return False
            try:
                return pattern.search(str(value)) is not None
            except TooSlow:  # the pattern backtracks on this value: no match, not a stall
                return False

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
    if op is FilterOp.NEAR:
        nearby = near_zips(flt)

        def near(lead: LeadView) -> bool:
            text = lead.text(name)
            return text is not None and text[:5] in nearby

        return near
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
        return f"{flt.field} exists" if flt.value is not False else f"{flt.field} absent"
    if flt.op is FilterOp.NEAR:
        assert flt.near is not None
        return f"{flt.field} within {flt.near.miles} miles of {flt.near.zip}"
    return f"{flt.field} equals {flt.value}"


class CompiledSchedule:
    """A schedule as (weekday -> [(start, end)] in microseconds of the day) in its own zone.

    Windows are half-open: open at start, closed from end on.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.zone = ZoneInfo(schedule.timezone)
        self.timezone = schedule.timezone
        self.by_day: dict[int, list[tuple[int, int]]] = {i: [] for i in range(7)}
        for window in schedule.windows:
            for day in window.days:
                self.by_day[DAYS.index(day)].append((time_us(window.start), window.end_us))
        self.dates_off = frozenset(schedule.dates_off)

    def why_closed(self, now: datetime) -> str | None:
        """None when now (aware) falls in a window on a working date, else why not."""
        weekday, moment, day = _local(self.zone, now)
        if day in self.dates_off:
            return f"date off {day.isoformat()} ({self.timezone})"
        if any(start <= moment < end for start, end in self.by_day[weekday]):
            return None
        return f"outside schedule ({self.timezone})"

    def is_open(self, now: datetime) -> bool:
        """Whether now (aware) falls in a window on a working date, read in the schedule's zone."""
        return self.why_closed(now) is None


@lru_cache(maxsize=512)
def _local(zone: ZoneInfo, now: datetime) -> tuple[int, int, date]:
    # Many campaigns share a zone: convert each lead's moment once per zone.
    local = now.astimezone(zone)
    return local.weekday(), time_us(local.time()), local.date()


class CompiledCampaign:
    """A campaign with its filters and schedule ready to evaluate.

    numeric_fields: the vertical's integer and number fields (equals / in compare numbers).
    """

    def __init__(self, campaign: Campaign, numeric_fields: Collection[str] = ()) -> None:
        self.campaign = campaign
        self.numeric_fields = frozenset(numeric_fields)
        self.filters = [
            (compile_filter(f, f.field in self.numeric_fields), describe_filter(f))
            for f in campaign.filters
        ]
        self.schedule = CompiledSchedule(campaign.schedule) if campaign.schedule else None

    def failed_filter(self, lead: LeadView) -> str | None:
        """How the first filter the lead fails reads, or None when all pass."""
        for predicate, description in self.filters:
            if not predicate(lead):
                return description
        return None


CONSENT_DETAIL = "the consumer's consent does not name this buyer"


CapRoom = Callable[[Campaign, datetime], "str | None"]
FundsLeft = Callable[[str, Decimal], "str | None"]
_NIL = Decimal(0)  # a bid campaign's price is known only at its post
Excluded = tuple[str, SkipReason, str]  # campaign, reason, detail


_CHANNEL = {True: "buys no calls", False: "buys calls only"}


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
    consented: Collection[str] | None = None,
    funds: FundsLeft | None = None,
    call: bool = False,
) -> tuple[list[tuple[TierCampaign, Campaign]], list[Excluded]]:
    """The campaigns of a tier that may be offered the lead now, and why each other may not.

    Checks, in order: active, the lead's channel (a call goes only to campaigns that buy
    calls, a form lead only to the others), buyer active, buyer blocked (suppression,
    recent purchase), buyer already bought this lead (shared), consent (consented: the only
    buyers the lead's one-to-one consent names; None: any), filters, schedule and dates
    off, caps (a cap of 0 closes the campaign) and cap room (room None: a test lead, which
    counts in no cap), the buyer's funds at the campaign's fixed price (funds None: not
    checked).
    A tier index, when given, rules out most campaigns of a big tier in bulk; the ones it
    lets through get every check.
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
        reason: SkipReason | None = None
        detail = ""
        if not campaign.active:
            reason = SkipReason.INACTIVE
        elif (campaign.call is not None) is not call:
            reason, detail = SkipReason.CHANNEL, _CHANNEL[call]
        elif buyer is None or not buyer.active:
            reason = SkipReason.BUYER_INACTIVE
        elif campaign.buyer in blocked:
            reason, detail = SkipReason.BLOCKED, blocked[campaign.buyer]
        elif campaign.buyer in sold_to:
            reason = SkipReason.ALREADY_SOLD_TO_BUYER
        elif consented is not None and campaign.buyer not in consented:
            reason, detail = SkipReason.CONSENT, CONSENT_DETAIL
        elif check_filters and (failed := compiled.failed_filter(lead)) is not None:
            reason, detail = SkipReason.FILTER, failed
        elif compiled.schedule is not None and (shut := compiled.schedule.why_closed(now)):
            reason, detail = SkipReason.SCHEDULE, shut
        elif room is not None and (full := campaign.caps.closed or room(campaign, now)):
            reason, detail = SkipReason.CAP, full
        elif funds is not None and (short := funds(campaign.buyer, campaign.price.amount or _NIL)):
            reason, detail = SkipReason.FUNDS, short
        if reason is not None:
            excluded.append((campaign.name, reason, detail))
        else:
            offered.append((entry, campaign))
    return offered, excluded
