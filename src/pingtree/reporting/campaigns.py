"""Per-campaign results: offered, sold, errors, timeouts, rejections, price mismatches, revenue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Integer, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pingtree.buyers.model import Exchange
from pingtree.money import ZERO, cents
from pingtree.storage.tables import AttemptRow, Sale


@dataclass
class CampaignStats:
    """One campaign's numbers over a period (test leads excluded)."""

    campaign: str
    buyer: str
    pings: int = 0
    offered: int = 0
    sold: int = 0
    errors: int = 0
    timeouts: int = 0
    rejections: int = 0
    revenue: Decimal = ZERO
    price_mismatches: int = 0
    """Accepted posts whose answer stated a price other than the bid."""

    @property
    def accept_rate(self) -> Decimal | None:
        """Sold / offered, as a fraction; None when nothing was offered."""
        if not self.offered:
            return None
        return Decimal(self.sold) / Decimal(self.offered)

    @property
    def average_price(self) -> Decimal | None:
        """Average price of the leads sold; None when none sold."""
        if not self.sold:
            return None
        return cents(self.revenue / self.sold)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0), type_=Integer)


async def campaign_stats(session: AsyncSession, since: datetime | None) -> list[CampaignStats]:
    """Every campaign with attempts or sales since (all time when None), by revenue."""
    attempts = (
        select(
            AttemptRow.campaign,
            func.max(AttemptRow.buyer),
            _count_if(AttemptRow.kind == Exchange.PING),
            func.count(distinct(case((AttemptRow.kind == Exchange.POST, AttemptRow.lead_id)))),
            _count_if(AttemptRow.outcome == "error"),
            _count_if(AttemptRow.outcome == "timeout"),
            _count_if(
                (AttemptRow.kind == Exchange.POST)
                & AttemptRow.outcome.in_(("rejected", "duplicate"))
            ),
            _count_if(AttemptRow.price_mismatch.is_(True)),
        )
        .where(AttemptRow.test.is_(False))
        .group_by(AttemptRow.campaign)
    )
    sales = (
        select(Sale.campaign, func.max(Sale.buyer), func.count(Sale.id), func.sum(Sale.price))
        .where(Sale.test.is_(False))
        .group_by(Sale.campaign)
    )
    if since is not None:
        attempts = attempts.where(AttemptRow.started_at >= since)
        sales = sales.where(Sale.sold_at >= since)
    stats: dict[str, CampaignStats] = {}
    for (
        campaign,
        buyer,
        pings,
        offered,
        errors,
        timeouts,
        rejections,
        mismatches,
    ) in await session.execute(attempts):
        stats[campaign] = CampaignStats(
            campaign,
            buyer,
            int(pings),
            int(offered),
            0,
            int(errors),
            int(timeouts),
            int(rejections),
            price_mismatches=int(mismatches),
        )
    for campaign, buyer, sold, revenue in await session.execute(sales):
        row = stats.setdefault(campaign, CampaignStats(campaign, buyer))
        row.sold = int(sold)
        row.revenue = revenue if revenue is not None else ZERO
    return sorted(stats.values(), key=lambda s: (-s.revenue, s.campaign))
