"""Every query about calls: the call's row, its timeline, the figures the reports show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pingtree.storage.tables import CallEventRow, CallRow

calls = cast(Table, CallRow.__table__)
call_events = cast(Table, CallEventRow.__table__)


class CallStatus:
    """Where a call is: in the IVR, being routed, put through, or over."""

    IVR = "ivr"
    ROUTING = "routing"
    CONNECTED = "connected"
    COMPLETED = "completed"
    """put through to a buyer, and over"""
    UNSOLD = "unsold"
    """over without reaching a buyer"""
    REFUSED = "refused"
    """turned away before routing (screening, a field the IVR could not fill)"""


FINAL = (CallStatus.COMPLETED, CallStatus.UNSOLD, CallStatus.REFUSED)


@dataclass
class CallRecord:
    """A call as stored."""

    id: str
    publisher: str
    vertical: str
    tracking_number: str
    caller: str
    status: str
    started_at: datetime
    test: bool = False
    answers: dict[str, Any] = field(default_factory=dict)
    lead_id: str | None = None
    matched_lead_id: str | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None
    connected_s: int | None = None
    campaign: str | None = None
    buyer: str | None = None
    converted: bool = False
    price: Decimal | None = None
    recording_url: str | None = None


_FIELDS = [c.name for c in calls.columns if c.name != "line"]


async def open_call(conn: AsyncConnection, call: CallRecord) -> bool:
    """Store a new call; False when the provider sent this call id before (a retry)."""
    found = await conn.scalar(select(calls.c.id).where(calls.c.id == call.id))
    if found is not None:
        return False
    await conn.execute(calls.insert().values({name: getattr(call, name) for name in _FIELDS}))
    return True


async def get_call(conn: AsyncConnection, call_id: str) -> CallRecord | None:
    row = (
        await conn.execute(select(*[calls.c[n] for n in _FIELDS]).where(calls.c.id == call_id))
    ).first()
    if row is None:
        return None
    return CallRecord(**dict(row._mapping))


async def update_call(conn: AsyncConnection, call_id: str, **values: Any) -> None:
    await conn.execute(update(calls).where(calls.c.id == call_id).values(**values))


async def add_event(
    conn: AsyncConnection, call_id: str, kind: str, at: datetime, **detail: Any
) -> None:
    """One step of the call's timeline."""
    clean = {k: v for k, v in detail.items() if v is not None}
    await conn.execute(call_events.insert().values(call_id=call_id, at=at, kind=kind, detail=clean))


async def note(engine: AsyncEngine, call_id: str, kind: str, at: datetime, **detail: Any) -> None:
    """One step of the call's timeline, in a transaction of its own."""
    async with engine.begin() as conn:
        await add_event(conn, call_id, kind, at, **detail)


@dataclass(frozen=True)
class CallEvent:
    at: datetime
    kind: str
    detail: dict[str, Any]


async def events_of(conn: AsyncConnection, call_id: str) -> list[CallEvent]:
    rows = await conn.execute(
        select(call_events.c.at, call_events.c.kind, call_events.c.detail)
        .where(call_events.c.call_id == call_id)
        .order_by(call_events.c.id)
    )
    return [CallEvent(r.at, r.kind, dict(r.detail)) for r in rows]


async def calls_of_lead(conn: AsyncConnection, lead_id: str) -> list[CallRecord]:
    """The calls a lead is linked to: the call it is, or calls matched to it (its form)."""
    rows = await conn.execute(
        select(*[calls.c[n] for n in _FIELDS])
        .where((calls.c.lead_id == lead_id) | (calls.c.matched_lead_id == lead_id))
        .order_by(calls.c.started_at)
    )
    return [CallRecord(**dict(r._mapping)) for r in rows]


async def recent_calls(conn: AsyncConnection, *, limit: int = 50) -> list[CallRecord]:
    rows = await conn.execute(
        select(*[calls.c[n] for n in _FIELDS]).order_by(calls.c.started_at.desc()).limit(limit)
    )
    return [CallRecord(**dict(r._mapping)) for r in rows]


@dataclass(frozen=True)
class CallFigures:
    """Call figures of one group (a publisher, a vertical, a campaign) over a period."""

    key: str
    calls: int
    connected: int
    converted: int
    average_duration_s: Decimal
    revenue: Decimal

    @property
    def revenue_per_call(self) -> Decimal:
        return (self.revenue / self.calls).quantize(Decimal("0.01")) if self.calls else Decimal(0)


async def figures(
    conn: AsyncConnection,
    *,
    by: str,
    start: datetime | None,
    end: datetime | None,
    test: bool = False,
    publisher: str | None = None,
    vertical: str | None = None,
) -> list[CallFigures]:
    """Calls, connected, converted, average duration and revenue per group, of the calls
    started in [start, end) (no bound: all time), of one publisher or vertical if named (the
    console's reports filter so)."""
    column = {
        "publisher": calls.c.publisher,
        "vertical": calls.c.vertical,
        "campaign": calls.c.campaign,
    }[by]
    where: list[ColumnElement[bool]] = [calls.c.test.is_(test)]
    if start is not None:
        where.append(calls.c.started_at >= start)
    if end is not None:
        where.append(calls.c.started_at < end)
    if publisher is not None:
        where.append(calls.c.publisher == publisher)
    if vertical is not None:
        where.append(calls.c.vertical == vertical)
    rows = await conn.execute(
        select(
            column,
            func.count(),
            func.count(calls.c.connected_s).filter(calls.c.connected_s > 0),
            func.count().filter(calls.c.converted.is_(True)),
            func.avg(calls.c.duration_s),
            func.coalesce(func.sum(calls.c.price).filter(calls.c.converted.is_(True)), 0),
        )
        .where(*where)
        .group_by(column)
        .order_by(column)
    )
    out = []
    for key, count, connected, converted, average, revenue in rows:
        out.append(
            CallFigures(
                key=key or "(none)",
                calls=int(count),
                connected=int(connected),
                converted=int(converted),
                average_duration_s=Decimal(str(round(float(average or 0), 1))),
                revenue=Decimal(revenue).quantize(Decimal("0.01")),  # Cents: dollars already
            )
        )
    return out
