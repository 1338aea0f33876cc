"""A day's totals (leads by status, revenue, payout, profit) and the newest leads.

The day is the local day in the operator's chosen zone (UTC unless chosen)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from pingtree.money import ZERO
from pingtree.storage.tables import Lead, Sale

UTC_ZONE = ZoneInfo("UTC")


@dataclass
class DayTotals:
    """Leads received in a day by status, and the money of the day's sales (no test leads)."""

    start: datetime
    zone: ZoneInfo = UTC_ZONE
    received: int = 0
    sold: int = 0
    unsold: int = 0
    rejected: int = 0
    pending: int = 0
    revenue: Decimal = ZERO
    payout: Decimal = ZERO

    @property
    def profit(self) -> Decimal:
        """Revenue less payout."""
        return self.revenue - self.payout


def day_bounds(now: datetime, zone: ZoneInfo = UTC_ZONE) -> tuple[datetime, datetime]:
    """The local day (in zone) that now falls in, as UTC bounds (a DST change makes it 23 or
    25 hours)."""
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(0), zone)
    end = datetime.combine(today + timedelta(days=1), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def day_start(now: datetime, zone: ZoneInfo = UTC_ZONE) -> datetime:
    """Local midnight (in zone, as UTC) of the day now falls in."""
    return day_bounds(now, zone)[0]


async def day_totals(session: AsyncSession, now: datetime, zone: ZoneInfo = UTC_ZONE) -> DayTotals:
    """Totals for the local day (in zone) that now falls in."""
    start, end = day_bounds(now, zone)
    totals = DayTotals(start=start, zone=zone)
    by_status = (
        select(Lead.status, func.count(Lead.id))
        .where(Lead.test.is_(False), Lead.received_at >= start, Lead.received_at < end)
        .group_by(Lead.status)
    )
    for status, count in await session.execute(by_status):
        totals.received += count
        if status in ("sold", "unsold", "rejected"):
            setattr(totals, status, count)
        else:
            totals.pending += count
    money = select(func.sum(Sale.price), func.sum(Sale.payout)).where(
        Sale.test.is_(False), Sale.sold_at >= start, Sale.sold_at < end
    )
    revenue, payout = (await session.execute(money)).one()
    totals.revenue = revenue if revenue is not None else ZERO
    totals.payout = payout if payout is not None else ZERO
    return totals


async def latest_leads(session: AsyncSession, limit: int = 50) -> Sequence[Lead]:
    """The newest leads, test leads included (they are marked)."""
    columns = (Lead.publisher, Lead.vertical, Lead.status, Lead.test, Lead.received_at)
    query = (
        select(Lead)
        .options(load_only(*columns, Lead.revenue, Lead.payout))
        .order_by(Lead.received_at.desc(), Lead.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()
