"""Caps, exact under any concurrency: each reservation is one conditional UPDATE per window.

The UPDATE only succeeds while `count + 1 <= cap` and `amount + price <= budget`; both
SQLite (one writer) and PostgreSQL (row lock, WHERE re-checked after the wait) make it
atomic, so a cap of 10 sells 10 however many leads arrive at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pingtree.buyers.model import Campaign
from pingtree.clock import Clock
from pingtree.sales.windows import cap_windows
from pingtree.storage.db import dialect_insert
from pingtree.storage.tables import CapCounter, CapReservation
from pingtree.storage.types import Cents

UNCAPPED = "uncapped"
"""The reservation id of a campaign without caps: nothing is held, nothing to release."""

HELD, CONFIRMED, RELEASED = "held", "confirmed", "released"
HOLD_MARGIN_S = 30.0


def _money(value: Decimal) -> Any:
    # Bind as cents: a bare Decimal would be compared with the integer-cents column as dollars.
    return literal(value, Cents())


class SqlCapLedger:
    """Cap counters in the database, with an in-process view for fast eligibility."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock
        self._seen: dict[tuple[str, str, str], tuple[int, Decimal]] = {}

    def room(self, campaign: Campaign, at: datetime) -> str | None:
        """Why the campaign has no room, judged from counters this process has seen."""
        limits = campaign.caps.limits()
        if not limits:
            return None
        for (period, count_cap, budget), (_, window) in zip(
            limits, cap_windows(campaign, at), strict=True
        ):
            count, amount = self._seen.get((campaign.name, period, window), (0, Decimal(0)))
            if count_cap is not None and count >= count_cap:
                return f"{period} cap {count_cap} reached"
            if budget is not None and amount >= budget:
                return f"{period} budget {budget} spent"
        return None

    async def reserve(
        self, campaign: Campaign, *, lead_id: str, price: Decimal, at: datetime, hold_s: float
    ) -> str | None:
        """Take room for one lead at price in every capped window, or none at all."""
        limits = campaign.caps.limits()
        if not limits:
            return UNCAPPED
        windows = cap_windows(campaign, at)
        async with self.sessions() as session, session.begin():
            for (period, count_cap, budget), (_, window) in zip(limits, windows, strict=True):
                await self._ensure_counter(session, campaign.name, period, window)
                stmt = (
                    update(CapCounter)
                    .where(
                        CapCounter.campaign == campaign.name,
                        CapCounter.period == period,
                        CapCounter.window == window,
                    )
                    .values(count=CapCounter.count + 1, amount=CapCounter.amount + _money(price))
                    .returning(CapCounter.count, CapCounter.amount)
                )
                if count_cap is not None:
                    stmt = stmt.where(CapCounter.count + 1 <= count_cap)
                if budget is not None:
                    stmt = stmt.where(CapCounter.amount + _money(price) <= _money(budget))
                row = (await session.execute(stmt)).one_or_none()
                key = (campaign.name, period, window)
                if row is None:
                    # Full: remember it so eligibility skips this campaign without asking again.
                    full = await session.get(CapCounter, (campaign.name, period, window))
                    if full is not None:
                        self._seen[key] = (full.count, full.amount)
                    await session.rollback()
                    return None
                self._seen[key] = (row[0], row[1])
            reservation = CapReservation(
                id=str(uuid.uuid4()),
                campaign=campaign.name,
                lead_id=lead_id,
                price=price,
                windows=[[p, w] for p, w in windows],
                status=HELD,
                created_at=at,
                expires_at=at + timedelta(seconds=hold_s + HOLD_MARGIN_S),
            )
            session.add(reservation)
        return reservation.id

    async def _ensure_counter(
        self, session: AsyncSession, campaign: str, period: str, window: str
    ) -> None:
        values = {"campaign": campaign, "period": period, "window": window, "count": 0, "amount": 0}
        stmt = dialect_insert(session)(CapCounter).values(**values).on_conflict_do_nothing()
        await session.execute(stmt)

    async def confirm(self, reservation_id: str, *, price: Decimal) -> None:
        """The post was accepted: the held room becomes a sale."""
        if reservation_id == UNCAPPED:
            return
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(CapReservation)
                .where(CapReservation.id == reservation_id, CapReservation.status == HELD)
                .values(status=CONFIRMED)
            )

    async def release(self, reservation_id: str) -> None:
        """Give held room back; a reservation already confirmed or released is left alone."""
        if reservation_id == UNCAPPED:
            return
        async with self.sessions() as session, session.begin():
            await self._release(session, reservation_id)

    async def _release(self, session: AsyncSession, reservation_id: str) -> None:
        held = (
            await session.execute(
                update(CapReservation)
                .where(CapReservation.id == reservation_id, CapReservation.status == HELD)
                .values(status=RELEASED)
                .returning(CapReservation.campaign, CapReservation.price, CapReservation.windows)
            )
        ).one_or_none()
        if held is None:
            return
        campaign, price, windows = held
        for period, window in windows:
            row = (
                await session.execute(
                    update(CapCounter)
                    .where(
                        CapCounter.campaign == campaign,
                        CapCounter.period == period,
                        CapCounter.window == window,
                    )
                    .values(count=CapCounter.count - 1, amount=CapCounter.amount - _money(price))
                    .returning(CapCounter.count, CapCounter.amount)
                )
            ).one_or_none()
            if row is not None:
                self._seen[(campaign, period, window)] = (row[0], row[1])

    async def release_expired(self) -> int:
        """Release every held reservation past its expiry (a crash or an unused inbound ping)."""
        now = self.clock.now()
        async with self.sessions() as session:
            ids = (
                await session.scalars(
                    select(CapReservation.id).where(
                        CapReservation.status == HELD, CapReservation.expires_at < now
                    )
                )
            ).all()
        for reservation_id in ids:
            await self.release(reservation_id)
        return len(ids)

    async def refresh(self, campaigns: list[Campaign]) -> None:
        """Load the current windows' counters into the in-process view."""
        now = self.clock.now()
        async with self.sessions() as session:
            for campaign in campaigns:
                for period, window in cap_windows(campaign, now):
                    row = await session.get(CapCounter, (campaign.name, period, window))
                    if row is not None:
                        self._seen[(campaign.name, period, window)] = (row.count, row.amount)
