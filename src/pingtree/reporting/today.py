"""A day's totals (leads by status, revenue, payout, profit) and the newest leads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from pingtree.money import ZERO
from pingtree.storage.tables import Lead, Sale


@dataclass
class DayTotals:
    """Leads received in a day by status, and the money of the day's sales (no test leads)."""

    start: datetime
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


def day_start(now: datetime) -> datetime:
    """Midnight UTC of the day now falls in."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def day_totals(session: AsyncSession, now: datetime) -> DayTotals:
    """Totals for the UTC day that now falls in."""
    start = day_start(now)
    end = start + timedelta(days=1)
    totals = DayTotals(start=start)
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
