"""Caps, exact under any concurrency: each reservation is one conditional UPDATE per window.

The UPDATE only succeeds while `count + 1 <= cap` and `amount + price <= budget`; both
SQLite (one writer) and PostgreSQL (row lock, WHERE re-checked after the wait) make it
atomic, so a cap of 10 sells 10 however many leads arrive at once.

A reservation is held until the lead is recorded, then settled in the same transaction
as the sale: confirmed with it, or released. A hold taken while routing lives in this
process only (it is settled a few hundred milliseconds later): if the process dies
in between, that window counts one lead too many, so the campaign may undersell by one,
never oversell. A durable hold (an inbound ping's, which waits for the publisher's post)
is a row with an expiry; housekeeping releases the ones nobody settled.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pingtree.buyers.model import Campaign, Period
from pingtree.clock import Clock
from pingtree.sales.windows import cap_windows
from pingtree.storage.db import dialect_insert_for, retrying
from pingtree.storage.tables import CapCounter, CapReservation
from pingtree.storage.types import Cents

UNCAPPED = "uncapped"
"""The reservation id of a campaign without caps: nothing is held, nothing to release."""

HELD, CONFIRMED, RELEASED = "held", "confirmed", "released"
HOLD_MARGIN_S = 30.0


@dataclass(frozen=True)
class _Hold:
    campaign: str
    price: Decimal
    windows: tuple[tuple[str, str], ...]


counters = cast(Table, CapCounter.__table__)
reservations = cast(Table, CapReservation.__table__)
Key = tuple[str, str, str]


_WINDOW = (
    (counters.c.campaign == bindparam("b_campaign"))
    & (counters.c.period == bindparam("b_period"))
    & (counters.c.window == bindparam("b_window"))
)
_PRICE = bindparam("price", type_=Cents())
_GIVE_BACK = (
    update(counters)
    .where(_WINDOW)
    .values(count=counters.c.count - 1, amount=counters.c.amount - _PRICE)
    .returning(counters.c.count, counters.c.amount)
)


@lru_cache(maxsize=4)
def _take_statement(count_capped: bool, budgeted: bool) -> Any:
    """The conditional UPDATE that takes room in one window, built once per kind of cap."""
    stmt = (
        update(counters)
        .where(_WINDOW)
        .values(count=counters.c.count + 1, amount=counters.c.amount + _PRICE)
        .returning(counters.c.count, counters.c.amount)
    )
    if count_capped:
        stmt = stmt.where(counters.c.count + 1 <= bindparam("cap"))
    if budgeted:
        stmt = stmt.where(counters.c.amount + _PRICE <= bindparam("budget", type_=Cents()))
    return stmt


class SqlCapLedger:
    """Cap counters in the database, with an in-process view for fast eligibility."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._seen: dict[Key, tuple[int, Decimal]] = {}
        self._known: set[Key] = set()  # counter rows this process knows exist
        self._full: set[str] = set()  # campaigns with a counter seen at a limit, any window
        self._holds: dict[str, _Hold] = {}  # holds of leads being routed in this process

    def _note(self, campaign: Campaign, key: Key, count: int, amount: Decimal) -> None:
        self._seen[key] = (count, amount)
        for period, count_cap, budget in campaign.caps.limits():
            if period == key[1] and (
                (count_cap is not None and count >= count_cap)
                or (budget is not None and amount >= budget)
            ):
                self._full.add(campaign.name)

    def room(self, campaign: Campaign, at: datetime) -> str | None:
        """Why the campaign has no room, judged from counters this process has seen."""
        if campaign.name not in self._full:
            return None  # the common case, asked for every campaign of every lead
        limits = campaign.caps.limits()
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
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        price: Decimal,
        at: datetime,
        hold_s: float,
        durable: bool = False,
    ) -> str | None:
        """Take room for one lead at price in every capped window, or none at all.

        durable: keep the hold as a row that expires after hold_s (an inbound ping's hold).
        """
        limits = campaign.caps.limits()
        if not limits:
            return UNCAPPED
        windows = cap_windows(campaign, at)
        return await retrying(
            lambda: self._reserve(campaign, limits, windows, lead_id, price, at, hold_s, durable)
        )

    async def _reserve(
        self,
        campaign: Campaign,
        limits: list[tuple[Period, int | None, Decimal | None]],
        windows: tuple[tuple[Period, str], ...],
        lead_id: str,
        price: Decimal,
        at: datetime,
        hold_s: float,
        durable: bool,
    ) -> str | None:
        full: Key | None = None
        reservation_id = str(uuid.uuid4())
        async with self.engine.connect() as conn:
            async with conn.begin() as txn:
                for (period, count_cap, budget), (_, window) in zip(limits, windows, strict=True):
                    key = (campaign.name, period, window)
                    if key not in self._known:
                        await self._ensure_counter(conn, key)
                    stmt = _take_statement(count_cap is not None, budget is not None)
                    params = {
                        "b_campaign": campaign.name,
                        "b_period": period,
                        "b_window": window,
                        "price": price,
                        "cap": count_cap,
                        "budget": budget,
                    }
                    row = (await conn.execute(stmt, params)).one_or_none()
                    if row is None:
                        full = key
                        await txn.rollback()
                        break
                    self._note(campaign, key, row[0], row[1])
                if full is None and durable:
                    await conn.execute(
                        reservations.insert().values(
                            id=reservation_id,
                            campaign=campaign.name,
                            lead_id=lead_id,
                            price=price,
                            windows=[[p, w] for p, w in windows],
                            status=HELD,
                            created_at=at,
                            expires_at=at + timedelta(seconds=hold_s + HOLD_MARGIN_S),
                        )
                    )
            if full is not None:
                # Remember the full window so eligibility skips the campaign without asking.
                await self._remember(conn, campaign, full)
                return None
        if not durable:
            self._holds[reservation_id] = _Hold(campaign.name, price, windows)
        return reservation_id

    async def _ensure_counter(self, conn: AsyncConnection, key: Key) -> None:
        campaign, period, window = key
        insert = dialect_insert_for(conn.dialect.name)
        await conn.execute(
            insert(counters)
            .values(campaign=campaign, period=period, window=window, count=0, amount=Decimal(0))
            .on_conflict_do_nothing()
        )
        self._known.add(key)

    async def _remember(self, conn: AsyncConnection, campaign: Campaign, key: Key) -> None:
        row = (
            await conn.execute(
                select(counters.c.count, counters.c.amount).where(
                    counters.c.campaign == key[0],
                    counters.c.period == key[1],
                    counters.c.window == key[2],
                )
            )
        ).one_or_none()
        if row is not None:
            self._note(campaign, key, row[0], row[1])

    async def settle(
        self, conn: AsyncConnection, *, sold: Iterable[str], released: Iterable[str]
    ) -> None:
        """In the caller's transaction: holds that became sales are kept, the others given back.

        Call settled() with the same ids once the transaction has committed.
        """
        kept = [r for r in sold if r != UNCAPPED and r not in self._holds]
        if kept:
            await conn.execute(
                update(reservations)
                .where(reservations.c.id.in_(kept), reservations.c.status == HELD)
                .values(status=CONFIRMED)
            )
        giving: list[tuple[Key, Decimal]] = []
        for reservation_id in released:
            if reservation_id == UNCAPPED:
                continue
            hold = self._holds.get(reservation_id)
            if hold is None:
                hold = await self._mark_released(conn, reservation_id)
            if hold is not None:
                giving += [((hold.campaign, p, w), hold.price) for p, w in hold.windows]
        # One order for every transaction, so two leads giving back room never deadlock.
        for key, price in sorted(giving):
            await self._decrement(conn, key, price)

    def settled(self, ids: Iterable[str]) -> None:
        """Forget the in-memory holds a committed settle() dealt with."""
        for reservation_id in ids:
            self._holds.pop(reservation_id, None)

    async def release(self, reservation_id: str) -> None:
        """Give held room back on its own (an inbound ping that will not be posted)."""
        if reservation_id == UNCAPPED:
            return

        async def give_back() -> None:
            async with self.engine.begin() as conn:
                await self.settle(conn, sold=(), released=[reservation_id])

        await retrying(give_back)
        self.settled([reservation_id])

    async def _mark_released(self, conn: AsyncConnection, reservation_id: str) -> _Hold | None:
        held = (
            await conn.execute(
                update(reservations)
                .where(reservations.c.id == reservation_id, reservations.c.status == HELD)
                .values(status=RELEASED)
                .returning(reservations.c.campaign, reservations.c.price, reservations.c.windows)
            )
        ).one_or_none()
        if held is None:
            return None  # already confirmed or released
        campaign, price, windows = held
        return _Hold(campaign, price, tuple((p, w) for p, w in windows))

    async def _decrement(self, conn: AsyncConnection, key: Key, price: Decimal) -> None:
        campaign, period, window = key
        params = {"b_campaign": campaign, "b_period": period, "b_window": window, "price": price}
        row = (await conn.execute(_GIVE_BACK, params)).one_or_none()
        if row is not None:
            self._seen[key] = (row[0], row[1])

    async def release_expired(self) -> int:
        """Release every held reservation past its expiry (a crash or an unused inbound ping)."""
        now = self.clock.now()
        async with self.engine.connect() as conn:
            ids = (
                await conn.scalars(
                    select(reservations.c.id).where(
                        reservations.c.status == HELD, reservations.c.expires_at < now
                    )
                )
            ).all()
        for reservation_id in ids:
            await self.release(reservation_id)
        return len(ids)

    async def refresh(self, campaigns: list[Campaign]) -> None:
        """Load the current windows' counters into the in-process view."""
        now = self.clock.now()
        async with self.engine.connect() as conn:
            for campaign in campaigns:
                for period, window in cap_windows(campaign, now):
                    await self._remember(conn, campaign, (campaign.name, period, window))
