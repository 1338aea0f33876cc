"""Turning stored values into text an operator reads: money, times, bodies, config rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pingtree.buyers.model import Campaign, Caps, Filter, FilterOp, Schedule, ScheduleWindow
from pingtree.credentials.masking import ALWAYS_SECRET_HEADERS, MASK, mask_url
from pingtree.publishers.model import Payout, PayoutType

SECRET_HEADERS = ALWAYS_SECRET_HEADERS


def money(value: Decimal | None) -> str:
    """An amount with thousands separators and two decimals; a dash when there is none."""
    if value is None:
        return "–"
    return f"{value:,.2f}"


def percent(value: Decimal | None) -> str:
    """A fraction as a percentage with one decimal; a dash when there is none."""
    if value is None:
        return "–"
    return f"{value * 100:.1f}%"


def masked_phone(value: str | None) -> str:
    """A caller's number with all but its last four digits hidden ('•••5000'): lists and call
    pages name the person only as much as telling calls apart needs; the lead's own page has
    the number in full, among its PII fields."""
    digits = [ch for ch in value or "" if ch.isdigit()]
    if not digits:
        return "–"
    return "•••" + "".join(digits[-4:]) if len(digits) > 4 else "•" * len(digits)


def seconds(value: int | None) -> str:
    """A length of time in seconds as '2 min 10 s' (under a minute: '45 s'); a dash if none."""
    if value is None:
        return "–"
    minutes, rest = divmod(value, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def when(value: datetime | None) -> str:
    """A UTC timestamp to the second."""
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(since: datetime, now: datetime) -> str:
    """How long ago, in the largest two units that matter: '40 min', '5 h 12 min', '3 d 4 h'."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def pretty(body: Any) -> str:
    """A body for a <pre>: JSON indented (parsed first when it is a JSON string), else as is."""
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return body
        if isinstance(parsed, str):
            return body
        body = parsed
    return json.dumps(body, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def masked_headers(headers: Any) -> dict[str, str]:
    """Headers with credentials replaced by ***, whatever the stored record holds."""
    if not isinstance(headers, dict):
        return {}
    return {
        str(k): MASK if str(k).lower() in SECRET_HEADERS else str(v) for k, v in headers.items()
    }


def request_head(request: dict[str, Any]) -> str:
    """A recorded request's first line and headers, credentials masked."""
    # Records stored before URLs were masked may still hold a token in the query.
    url = mask_url(str(request.get("url", "")))
    lines = [f"{request.get('method', '')} {url}".strip()]
    lines += [f"{k}: {v}" for k, v in masked_headers(request.get("headers")).items()]
    return "\n".join(lines)


def describe_filter(flt: Filter) -> str:
    """One filter as a short sentence."""
    op = flt.op
    if op is FilterOp.EQUALS:
        return f"{flt.field} = {flt.value}"
    if op in (FilterOp.IN, FilterOp.NOT_IN, FilterOp.ZIP_LIST):
        values = flt.values or []
        shown = ", ".join(values[:10]) + (f" … (+{len(values) - 10})" if len(values) > 10 else "")
        word = {FilterOp.IN: "in", FilterOp.NOT_IN: "not in", FilterOp.ZIP_LIST: "ZIP in"}[op]
        return f"{flt.field} {word} [{shown}]"
    if op is FilterOp.RANGE:
        low = "" if flt.min is None else f"{flt.min} ≤ "
        high = "" if flt.max is None else f" ≤ {flt.max}"
        return f"{low}{flt.field}{high}"
    if op is FilterOp.REGEX:
        return f"{flt.field} ~ /{flt.pattern}/i"
    if op is FilterOp.NEAR and flt.near is not None:
        return f"{flt.field} within {flt.near.miles} mi of {flt.near.zip}"
    return f"{flt.field} present" if flt.value is not False else f"{flt.field} absent"


def describe_caps(caps: Caps) -> str:
    """Count and budget limits per period, or 'none'."""
    parts = []
    for period, count, budget in caps.limits():
        limits = [f"{count} leads"] if count is not None else []
        if budget is not None:
            limits.append(money(budget))
        parts.append(f"{period}: {' / '.join(limits)}")
    return "; ".join(parts) or "none"


def describe_schedule(schedule: Schedule | None) -> str:
    """Days and hours in the schedule's zone, or 'always'."""
    if schedule is None:
        return "always"
    windows = [
        f"{','.join(w.days)} {w.start.strftime('%H:%M')}–{_end(w)}" for w in schedule.windows
    ]
    off = (
        f"; off {', '.join(d.isoformat() for d in schedule.dates_off)}"
        if schedule.dates_off
        else ""
    )
    return f"{'; '.join(windows)} ({schedule.timezone}){off}"


def _end(window: ScheduleWindow) -> str:
    end = window.end
    return end if isinstance(end, str) else end.strftime("%H:%M:%S" if end.second else "%H:%M")


def describe_price(campaign: Campaign) -> str:
    """Fixed amount or bid, with the floor when there is one."""
    price = campaign.price
    text = f"fixed {money(price.amount)}" if price.type.value == "fixed" else "bid"
    return text + (f", floor {money(price.floor)}" if price.floor else "")


def describe_payout(payout: Payout) -> str:
    """A publisher's payout rule."""
    if payout.type is PayoutType.FIXED:
        return f"fixed {money(payout.amount)}"
    return f"{payout.percent}% of revenue"
