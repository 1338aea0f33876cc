"""The figures the console's reports draw, each from one query.

Every chart and table of the reports page reads these functions only. The timeline and the
publishers' funnels read the publisher rollups (reporting.rollups, the reports API's
figures: as fresh as the last roll); buyers and campaigns read the exchanges and sales by
their (campaign, time) indexes. Money is Decimal; test leads never count; times are aware
UTC. The timeline counts per slot of UTC time: a
whole hour, or a quarter of one when the chosen zone's hours start elsewhere (Asia/Kolkata
+05:30, Asia/Kathmandu +05:45): every zone's offset is a whole number of quarter hours.
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
    Integer,
    case,
    distinct,
    func,
    select,
    text,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from pingtree.buyers.model import Campaign, Exchange, Period
from pingtree.money import ZERO
from pingtree.reporting.rollups import publisher_rollups
from pingtree.sales.windows import cap_windows
from pingtree.storage.tables import AttemptRow, CapCounter, Lead, Sale

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
    """What a report looks at: a period (until excluded) and optionally a publisher/vertical.

    campaigns: the campaigns whose sales and exchanges count (None: all). Naming them lets
    the (campaign, time) indexes of sales and attempts find a period without a full scan.
    """

    since: datetime | None
    until: datetime | None
    publisher: str | None = None
    vertical: str | None = None
    campaigns: tuple[str, ...] | None = None


def _lead_scope(statement: Any, scope: Scope) -> Any:
    statement = statement.where(Lead.test.is_(False))
    if scope.since is not None:
        statement = statement.where(Lead.received_at >= scope.since)
    if scope.until is not None:
        statement = statement.where(Lead.received_at < scope.until)
    if scope.publisher:
        statement = statement.where(Lead.publisher == scope.publisher)
    if scope.vertical:
        statement = statement.where(Lead.vertical == scope.vertical)
    return statement


def _sale_scope(statement: Any, scope: Scope) -> Any:
    statement = statement.where(Sale.test.is_(False))
    if scope.campaigns is not None:
        statement = statement.where(Sale.campaign.in_(scope.campaigns))
    if scope.since is not None:
        statement = statement.where(Sale.sold_at >= scope.since)
    if scope.until is not None:
        statement = statement.where(Sale.sold_at < scope.until)
    if scope.publisher:
        statement = statement.where(Sale.publisher == scope.publisher)
    if scope.vertical:
        statement = statement.where(
            Sale.lead_id.in_(select(Lead.id).where(Lead.vertical == scope.vertical))
        )
    return statement


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


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0), type_=Integer)


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


async def _exchanges(
    session: AsyncSession, scope: Scope, by_campaign: bool
) -> dict[tuple[str, ...], BuyerFigures]:
    """Exchanges and sales of the scope, per buyer (or per campaign and its buyer)."""
    attempt_keys = [AttemptRow.buyer] + ([AttemptRow.campaign] if by_campaign else [])
    attempts = select(
        *attempt_keys,
        _count_if(AttemptRow.kind == Exchange.PING),
        _count_if(AttemptRow.kind == Exchange.POST),
        func.count(distinct(case((AttemptRow.kind == Exchange.POST, AttemptRow.lead_id)))),
        _count_if(AttemptRow.outcome == "timeout"),
        _count_if(AttemptRow.outcome == "error"),
        _count_if(
            (AttemptRow.kind == Exchange.POST) & AttemptRow.outcome.in_(("rejected", "duplicate"))
        ),
        func.avg(AttemptRow.duration_ms),
    ).where(AttemptRow.test.is_(False))
    if scope.campaigns is not None:
        attempts = attempts.where(AttemptRow.campaign.in_(scope.campaigns))
    if scope.since is not None:
        attempts = attempts.where(AttemptRow.started_at >= scope.since)
    if scope.until is not None:
        attempts = attempts.where(AttemptRow.started_at < scope.until)
    if scope.publisher or scope.vertical:
        attempts = attempts.where(AttemptRow.lead_id.in_(_lead_scope(select(Lead.id), scope)))
    attempts = attempts.group_by(*attempt_keys)
    sale_keys = [Sale.buyer] + ([Sale.campaign] if by_campaign else [])
    sales = _sale_scope(
        select(*sale_keys, func.count(Sale.id), func.sum(Sale.price)).group_by(*sale_keys), scope
    )
    width = len(attempt_keys)

    def new(key: tuple[str, ...]) -> BuyerFigures:
        return CampaignFigures(key[0], campaign=key[1]) if by_campaign else BuyerFigures(key[0])

    found: dict[tuple[str, ...], BuyerFigures] = {}
    for row in await session.execute(attempts):
        key = tuple(str(k) for k in row[:width])
        pings, posts, offered, timeouts, errors, rejections, mean = row[width:]
        figures = found[key] = new(key)
        figures.pings, figures.posts = int(pings or 0), int(posts or 0)
        figures.offered, figures.timeouts = int(offered or 0), int(timeouts or 0)
        figures.errors, figures.rejections = int(errors or 0), int(rejections or 0)
        figures.mean_ms = float(mean) if mean is not None else None
    for row in await session.execute(sales):
        key = tuple(str(k) for k in row[:width])
        sold, revenue = row[width:]
        figures = found.setdefault(key, new(key))
        figures.sold = int(sold)
        figures.revenue = Decimal(revenue) if revenue is not None else ZERO
    return found


async def buyers(session: AsyncSession, scope: Scope) -> list[BuyerFigures]:
    """Every buyer with exchanges or sales in the scope, by revenue."""
    found = await _exchanges(session, scope, by_campaign=False)
    return sorted(found.values(), key=lambda b: (-b.revenue, b.buyer))


async def campaigns(session: AsyncSession, scope: Scope) -> list[CampaignFigures]:
    """Every campaign with exchanges or sales in the scope (configured or not), by revenue."""
    found = await _exchanges(session, scope, by_campaign=True)
    rows = [f for f in found.values() if isinstance(f, CampaignFigures)]
    return sorted(rows, key=lambda c: (-c.revenue, c.campaign, c.buyer))


_SEEN = """
WITH RECURSIVE seen(name) AS (
    SELECT MIN(campaign) FROM {table}
    UNION ALL
    SELECT (SELECT MIN(campaign) FROM {table} WHERE campaign > seen.name)
    FROM seen WHERE seen.name IS NOT NULL
)
SELECT name FROM seen WHERE name IS NOT NULL
"""


async def campaigns_seen(session: AsyncSession) -> set[str]:
    """Every campaign that ever had an exchange or a sale, configured now or not.

    One index step per campaign (the (campaign, time) indexes), however many rows there are:
    a report scoped to these names finds a removed campaign's history too.
    """
    names: set[str] = set()
    for table in (AttemptRow.__tablename__, Sale.__tablename__):
        names |= set((await session.scalars(text(_SEEN.format(table=table)))).all())
    return names


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
    bounds = [b for b in (scope.since, scope.until) if b is not None]
    grain = 60 if all(b.minute == 0 and b.second == 0 for b in bounds) else 15
    query = (
        select(table.c.publisher, *_rollup_sums())
        .where(*_rollup_scope(grain, scope))
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
