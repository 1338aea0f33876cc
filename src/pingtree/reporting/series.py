"""The figures the console's reports draw, each from one query.

Every chart and table of the reports page reads these functions only. The timeline and the
publishers' funnels read the publisher rollups, the buyers and campaigns tables the campaign
rollups (reporting.rollups, the reports API's figures: as fresh as the last roll; a lead's
exchanges and sales count in the slot it was received in). Money is Decimal; test leads
never count; times are aware UTC. The timeline counts per slot of UTC time: a whole hour,
or a quarter of one when the chosen zone's hours start elsewhere (Asia/Kolkata +05:30,
Asia/Kathmandu +05:45): every zone's offset is a whole number of quarter hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    func,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from pingtree.buyers.model import Campaign, Period
from pingtree.money import CENT, ZERO
from pingtree.reporting.rollups import campaign_rollups, publisher_rollups
from pingtree.sales.windows import cap_windows
from pingtree.storage.books import ALL
from pingtree.storage.tables import CapCounter

STATUSES = ("sold", "unsold", "rejected", "review", "uncertain", "received")


SLOT_MINUTES = (60, 15)
"""The slots the timeline is counted in: whole UTC hours, or quarter hours."""


@dataclass
class Slot:
    """One UTC hour or quarter hour: leads received by status, and its sales' money."""

    start: datetime
    leads: dict[str, int]
    revenue: Decimal = ZERO
    payout: Decimal = ZERO

    @property
    def profit(self) -> Decimal:
        """Revenue less payout."""
        return self.revenue - self.payout


@dataclass(frozen=True)
class Scope:
    """What a report looks at: a period (until excluded) and optionally a publisher/vertical."""

    since: datetime | None
    until: datetime | None
    publisher: str | None = None
    vertical: str | None = None


ROLLUP_STATUS = {
    "sold": "sold",
    "unsold": "unsold",
    "screened_out": "rejected",
    "review": "review",
    "uncertain": "uncertain",
}
"""The publisher rollups' figures that count leads by status, and the status each counts."""


def _rollup_scope(grain: int, scope: Scope) -> list[ColumnElement[bool]]:
    """The publisher rollup rows of a scope: its slots (those the bounds fall in, whole), its
    publisher and vertical. Lead events count in the slot their lead was received in."""
    table = publisher_rollups
    seconds = grain * 60
    clauses: list[ColumnElement[bool]] = [table.c.grain == grain]
    if scope.since is not None:
        clauses.append(table.c.bucket >= int(scope.since.timestamp()) // seconds)
    if scope.until is not None:
        clauses.append(table.c.bucket < -(-int(scope.until.timestamp()) // seconds))
    if scope.publisher:
        clauses.append(table.c.publisher == scope.publisher)
    if scope.vertical:
        clauses.append(table.c.vertical == scope.vertical)
    return clauses


def _rollup_sums() -> list[ColumnElement[Any]]:
    table = publisher_rollups
    names = [*ROLLUP_STATUS, "revenue", "payout"]
    return [type_coerce(func.sum(table.c[n]), BigInteger()).label(n) for n in names]


def _rolled(row: Any) -> tuple[dict[str, int], Decimal, Decimal]:
    """Leads by status, revenue and payout of a summed rollup row (money in cents)."""
    figures = row._mapping
    leads = {status: int(figures[name] or 0) for name, status in ROLLUP_STATUS.items()}
    leads = {status: n for status, n in leads.items() if n}
    return (
        leads,
        Decimal(int(row.revenue or 0)).scaleb(-2),
        Decimal(int(row.payout or 0)).scaleb(-2),
    )


async def slots(session: AsyncSession, scope: Scope, *, minutes: int = 60) -> list[Slot]:
    """Each UTC hour (minutes=15: quarter hour) of the scope with leads, in order.

    Read from the publisher rollups (the reports API's figures): leads by status in the slot
    they were received in, and their sales' money; as fresh as the last roll.
    """
    if minutes not in SLOT_MINUTES:
        raise ValueError(f"slots are {SLOT_MINUTES} minutes, not {minutes}")
    table = publisher_rollups
    query = (
        select(table.c.bucket, *_rollup_sums())
        .where(*_rollup_scope(minutes, scope))
        .group_by(table.c.bucket)
        .order_by(table.c.bucket)
    )
    out = []
    for row in await session.execute(query):
        leads, revenue, payout = _rolled(row)
        start = datetime.fromtimestamp(int(row.bucket) * minutes * 60, UTC)
        out.append(Slot(start, leads, revenue, payout))
    return out


@dataclass
class BuyerFigures:
    """A buyer's exchanges over a scope: what it was offered and how it answered."""

    buyer: str
    pings: int = 0
    posts: int = 0
    offered: int = 0
    """Distinct leads posted to it."""
    sold: int = 0
    timeouts: int = 0
    errors: int = 0
    rejections: int = 0
    mean_ms: float | None = None
    revenue: Decimal = ZERO

    @property
    def accept_rate(self) -> Decimal | None:
        """Sold / offered; None when nothing was offered."""
        if not self.offered:
            return None
        return Decimal(self.sold) / Decimal(self.offered)

    @property
    def timeout_rate(self) -> Decimal | None:
        """Timeouts / pings and posts; None when none was sent."""
        sent = self.pings + self.posts
        return Decimal(self.timeouts) / Decimal(sent) if sent else None


@dataclass
class CampaignFigures(BuyerFigures):
    """A campaign's exchanges over a scope (its buyer's figures, for this campaign only)."""

    campaign: str = ""


def _grain(scope: Scope) -> int:
    """Whole hours, or quarter hours when a bound is off the hour."""
    bounds = [b for b in (scope.since, scope.until) if b is not None]
    return 60 if all(b.minute == 0 and b.second == 0 for b in bounds) else 15


def _campaign_scope(grain: int, scope: Scope) -> list[ColumnElement[bool]]:
    """The campaign rollup rows of a scope: its slots (whole), its publisher (else all
    publishers' rows, `*`) and vertical."""
    table = campaign_rollups
    seconds = grain * 60
    clauses: list[ColumnElement[bool]] = [
        table.c.grain == grain,
        table.c.publisher == (scope.publisher or ALL),
    ]
    if scope.since is not None:
        clauses.append(table.c.bucket >= int(scope.since.timestamp()) // seconds)
    if scope.until is not None:
        clauses.append(table.c.bucket < -(-int(scope.until.timestamp()) // seconds))
    if scope.vertical:
        clauses.append(table.c.vertical == scope.vertical)
    return clauses


async def _exchanges(
    session: AsyncSession, scope: Scope, by_campaign: bool
) -> dict[tuple[str, ...], BuyerFigures]:
    """Exchanges and sales of the scope's leads, per buyer (or per campaign and its buyer).

    Read from the campaign rollups (as fresh as the last roll): the exchanges and sales of
    the leads received in the scope's slots, as the timeline counts its leads.
    """
    table = campaign_rollups
    keys = [table.c.buyer] + ([table.c.campaign] if by_campaign else [])
    offered = table.c.leads_posted if by_campaign else table.c.buyer_leads_posted

    def total(column: ColumnElement[Any]) -> ColumnElement[int]:
        return type_coerce(func.sum(column), BigInteger())

    query = (
        select(
            *keys,
            total(table.c.pinged),
            total(table.c.posted),
            total(offered),
            total(table.c.sold),
            total(table.c.timeouts),
            total(table.c.errors),
            total(table.c.rejected + table.c.duplicates),
            func.sum(table.c.exchange_ms),
            func.sum(table.c.revenue),
        )
        .where(*_campaign_scope(_grain(scope), scope))
        .group_by(*keys)
    )
    width = len(keys)
    found: dict[tuple[str, ...], BuyerFigures] = {}
    for row in await session.execute(query):
        key = tuple(str(k) for k in row[:width])
        pings, posts, leads, sold, timeouts, errors, rejections, ms, revenue = row[width:]
        figures = found[key] = (
            CampaignFigures(key[0], campaign=key[1]) if by_campaign else BuyerFigures(key[0])
        )
        figures.pings, figures.posts = int(pings or 0), int(posts or 0)
        figures.offered, figures.sold = int(leads or 0), int(sold or 0)
        figures.timeouts, figures.errors = int(timeouts or 0), int(errors or 0)
        figures.rejections = int(rejections or 0)
        sent = figures.pings + figures.posts
        figures.mean_ms = float(ms) / sent if sent and ms is not None else None
        figures.revenue = Decimal(revenue).quantize(CENT) if revenue is not None else ZERO
    return {k: f for k, f in found.items() if f.pings or f.posts or f.sold}


async def buyers(session: AsyncSession, scope: Scope) -> list[BuyerFigures]:
    """Every buyer with exchanges or sales in the scope, by revenue."""
    found = await _exchanges(session, scope, by_campaign=False)
    return sorted(found.values(), key=lambda b: (-b.revenue, b.buyer))


async def campaigns(session: AsyncSession, scope: Scope) -> list[CampaignFigures]:
    """Every campaign with exchanges or sales in the scope (configured or not), by revenue."""
    found = await _exchanges(session, scope, by_campaign=True)
    rows = [f for f in found.values() if isinstance(f, CampaignFigures)]
    return sorted(rows, key=lambda c: (-c.revenue, c.campaign, c.buyer))


@dataclass
class PublisherFigures:
    """A publisher's funnel over a scope: leads by what became of them, and the money."""

    publisher: str
    leads: dict[str, int]
    revenue: Decimal = ZERO
    payout: Decimal = ZERO

    @property
    def received(self) -> int:
        """Every lead it sent."""
        return sum(self.leads.values())

    @property
    def profit(self) -> Decimal:
        """Revenue less payout."""
        return self.revenue - self.payout


async def publishers(session: AsyncSession, scope: Scope) -> list[PublisherFigures]:
    """Every publisher with leads in the scope, by revenue (from the publisher rollups, whole
    hours; quarter hours when a bound is off the hour)."""
    table = publisher_rollups
    query = (
        select(table.c.publisher, *_rollup_sums())
        .where(*_rollup_scope(_grain(scope), scope))
        .group_by(table.c.publisher)
    )
    found = []
    for row in await session.execute(query):
        leads, revenue, payout = _rolled(row)
        found.append(PublisherFigures(str(row.publisher), leads, revenue, payout))
    return sorted(found, key=lambda p: (-p.revenue, p.publisher))


@dataclass(frozen=True)
class CapFill:
    """How full one of a campaign's caps is in its current window."""

    campaign: str
    period: Period
    window: str
    leads: int
    cap: int | None
    spent: Decimal
    budget: Decimal | None

    @property
    def fill(self) -> Decimal | None:
        """The fuller of count and budget, as a fraction; None when the cap is 0 or absent."""
        shares = []
        if self.cap:
            shares.append(Decimal(self.leads) / Decimal(self.cap))
        if self.budget:
            shares.append(self.spent / self.budget)
        return max(shares) if shares else None


async def cap_fill(
    session: AsyncSession, campaigns: Iterable[Campaign], now: datetime
) -> list[CapFill]:
    """Each capped campaign's caps in the windows they count now (held posts included)."""
    wanted = {
        (campaign.name, period, window): campaign
        for campaign in campaigns
        for period, window in cap_windows(campaign, now)
    }
    if not wanted:
        return []
    names = sorted({name for name, _, _ in wanted})
    rows = await session.execute(
        select(
            CapCounter.campaign,
            CapCounter.period,
            CapCounter.window,
            CapCounter.count,
            CapCounter.amount,
        ).where(CapCounter.campaign.in_(names))
    )
    counted = {(c, p, w): (int(n), amount) for c, p, w, n, amount in rows}
    out = []
    for (name, period, window), campaign in wanted.items():
        leads, spent = counted.get((name, period, window), (0, ZERO))
        out.append(
            CapFill(
                campaign=name,
                period=period,
                window=window,
                leads=leads,
                cap=getattr(campaign.caps, period),
                spent=spent,
                budget=getattr(campaign.caps.budget, period),
            )
        )
    return sorted(out, key=lambda f: (-(f.fill or Decimal(0)), f.campaign, f.period))
