"""Caps, exact under any concurrency: each reservation is one conditional UPDATE per window.

The UPDATE only succeeds while `count + 1 <= cap` and `amount + price <= budget`; both
SQLite (one writer) and PostgreSQL (row lock, WHERE re-checked after the wait) make it
atomic, so a cap of 10 sells 10 however many leads arrive at once.

Every hold is a row (`cap_reservations`), written in the same transaction as the counters
and committed before the post it is taken for: it is the post's journal entry. A hold is
settled when the lead is recorded, in the same transaction as the sale: confirmed with
it, or released. A crash in between leaves the row `held`; recovery then marks it
`uncertain` (the buyer may have bought): it keeps counting against the cap until an
operator resolves it, so a cap is never oversold and the counters always equal confirmed
sales plus open (held or uncertain) rows. An uncapped campaign's post is journaled the
same way, with no windows. When the buyer has a dedup window, its claim on the person
(screening.purchases) is taken in the same transaction: one commit per post. An inbound
ping's hold waits for the publisher's post; if it expires unused (no lead was stored for
it), housekeeping releases it.

A sale booked above its hold's price (a campaign's `post_price: answer`) is first raised
(raise_hold(), one transaction, each budget's own conditional UPDATE): a budget is never
taken past its limit by a buyer's answer either.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Table,
    Text,
    any_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pingtree.buyers.model import Campaign, Period
from pingtree.clock import Clock
from pingtree.routing.ports import PersonClaim, PersonTaken
from pingtree.sales import one_statement
from pingtree.sales.windows import cap_windows
from pingtree.screening.repository import claim_purchase
from pingtree.storage import direct
from pingtree.storage.db import dialect_insert_for, retrying
from pingtree.storage.sqlite_inline import runs_inline
from pingtree.storage.tables import CapCounter, CapReservation, Lead
from pingtree.storage.types import Cents

HELD, CONFIRMED, RELEASED, UNCERTAIN = "held", "confirmed", "released", "uncertain"
PRUNE_BATCH, PRUNE_ROUNDS = 1000, 10
"""Journal rows deleted per transaction, and transactions per housekeeping pass at most."""
HOLD_MARGIN_S = 30.0
SPARE_LEADS = 100
"""A campaign has room to spare (spare()) while each capped window, as this process last saw
it, has room for this many more leads: a hold taken ahead of its post then cannot be the
one that crowds another lead out."""


counters = cast(Table, CapCounter.__table__)
reservations = cast(Table, CapReservation.__table__)
leads = cast(Table, Lead.__table__)
Key = tuple[str, str, str]
_SETTLED = (
    reservations.c.status,
    reservations.c.campaign,
    reservations.c.price,
    reservations.c.windows,
)


_WINDOW = (
    (counters.c.campaign == bindparam("b_campaign"))
    & (counters.c.period == bindparam("b_period"))
    & (counters.c.window == bindparam("b_window"))
)
_PRICE = bindparam("price", type_=Cents())
_WINDOWS_OF = select(
    counters.c.campaign, counters.c.period, counters.c.window, counters.c.count, counters.c.amount
).where(
    counters.c.campaign.in_(bindparam("names", expanding=True)),
    counters.c.window.in_(bindparam("windows", expanding=True)),
)
_INSERT_HOLD = reservations.insert()  # built once: parameters beside it, per post
_GIVE_BACK = (
    update(counters)
    .where(_WINDOW)
    .values(count=counters.c.count - bindparam("one"), amount=counters.c.amount - _PRICE)
)


# A lead's record settles its holds, kept (confirmed) or given back (released), in one
# statement: ids as an array on PostgreSQL, as a JSON list on SQLite (direct execution takes
# no expanding IN; a lead that cascaded through ten buyers has ten holds to settle).
def _json_list(name: str) -> Any:
    return select(func.json_each(bindparam(name, type_=Text)).table_valued("value").c.value)


_SETTLE_LISTED = (
    update(reservations)
    .where(
        reservations.c.id.in_(_json_list("ids")),
        # likely(): SQLite's planner then finds the holds by their ids, not among every
        # hold still held by the status index
        func.likely(reservations.c.status == HELD, type_=Boolean),
    )
    .values(status=case((reservations.c.id.in_(_json_list("kept")), CONFIRMED), else_=RELEASED))
    .returning(*_SETTLED, reservations.c.id)
)
_REPRICE = (
    update(reservations)
    .where(reservations.c.id == bindparam("b_id"))
    .values(price=bindparam("b_price", type_=reservations.c.price.type))
)
_RAISE_HOLD = (
    update(reservations)
    .where(
        reservations.c.id == bindparam("b_id"),
        reservations.c.status == HELD,
        reservations.c.price == bindparam("b_held", type_=reservations.c.price.type),
    )
    .values(price=bindparam("b_price", type_=reservations.c.price.type))
    .returning(reservations.c.windows)
)
_SETTLE_ALL = (
    update(reservations)
    .where(
        reservations.c.id == any_(bindparam("ids", type_=ARRAY(Text))),
        reservations.c.status == HELD,
    )
    .values(
        status=case(
            (reservations.c.id == any_(bindparam("kept", type_=ARRAY(Text))), CONFIRMED),
            else_=RELEASED,
        )
    )
    .returning(*_SETTLED, reservations.c.id)
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


@lru_cache(maxsize=2)
def _raise_statement(budgeted: bool) -> Any:
    """The conditional UPDATE that moves a held window's amount up by a raise (its count
    stays): with a budget, only while the window has room for the difference."""
    stmt = (
        update(counters)
        .where(_WINDOW)
        .values(amount=counters.c.amount + _PRICE)
        .returning(counters.c.count, counters.c.amount)
    )
    if budgeted:
        stmt = stmt.where(counters.c.amount + _PRICE <= bindparam("budget", type_=Cents()))
    return stmt


def _by_period(
    taking: tuple[tuple[Period, int | None, Decimal | None], tuple[Period, str]],
) -> str:
    return taking[0][0]


class _Refused(Exception):
    """A hold's transaction found a window full or the person the buyer's: roll it back."""


class SqlCapLedger:
    """Cap counters in the database, with an in-process view for fast eligibility."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._seen: dict[Key, tuple[int, Decimal]] = {}
        self._known: set[Key] = set()  # counter rows this process knows exist
        self._full: set[str] = set()  # campaigns with a counter seen at a limit, any window
        self._late: set[asyncio.Future[None]] = set()  # holds given back after a timeout
        # PostgreSQL takes a hold in one statement (sales.one_statement), not five round trips.
        self._at_once = engine.dialect.name == "postgresql"
        self._inline = runs_inline(engine)

    def _note(self, campaign: Campaign, key: Key, count: int, amount: Decimal) -> None:
        self._seen[key] = (count, amount)
        for period, count_cap, budget in campaign.caps.limits():
            if period == key[1] and (
                (count_cap is not None and count >= count_cap)
                or (budget is not None and amount >= budget)
            ):
                self._full.add(campaign.name)

    def seen(self, key: Key) -> tuple[int, Decimal]:
        """(count, amount) of a cap window as this process last saw it (0 if never)."""
        return self._seen.get(key, (0, Decimal(0)))

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

    def spare(self, campaign: Campaign, at: datetime, price: Decimal) -> bool:
        """Whether each capped window has room for SPARE_LEADS more leads at price, by what
        this process has seen (a window it has not seen yet has none to spare)."""
        limits = campaign.caps.limits()
        if not limits:
            return True
        if campaign.name in self._full:
            return False
        for (period, count_cap, budget), (_, window) in zip(
            limits, cap_windows(campaign, at), strict=True
        ):
            seen = self._seen.get((campaign.name, period, window))
            if seen is None:
                return False
            count, amount = seen
            if count_cap is not None and count + SPARE_LEADS > count_cap:
                return False
            if budget is not None and amount + SPARE_LEADS * price > budget:
                return False
        return True

    async def recheck(self, campaigns: Sequence[Campaign], at: datetime) -> bool:
        """Read the current windows of campaigns room() turns away again, in one statement;
        True when one of them has room after all.

        Another process may have given room back (a rejected post, an expired hold, an
        operator's resolve) since this one saw the counters at a limit: the database is the
        authority, the view only spares a lookup while a campaign has room.
        """
        wanted, found = await self._current_windows(campaigns, at)
        if not wanted:
            return False
        for campaign in wanted.values():
            self._full.discard(campaign.name)  # back on room()'s fast path unless still full
        for key, campaign in wanted.items():
            self._note(campaign, key, *found.get(key, (0, Decimal(0))))
        return any(self.room(campaign, at) is None for campaign in campaigns)

    async def reserve(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        price: Decimal,
        at: datetime,
        hold_s: float,
        person: PersonClaim | None = None,
    ) -> str | None:
        """Take room for one lead at price in every capped window, or none at all.

        The hold is a committed row (the post's journal entry) that expires after hold_s.
        With person, the buyer's claim on the person is taken in the same transaction
        (PersonTaken, and nothing taken, when the buyer has it).
        A hold the database cannot give within hold_s is of no use to the post: TimeoutError,
        and the room is given back as soon as the late hold lands (on SQLite run inline, a
        hold cut off was never taken: its transaction rolled back).
        """
        limits = campaign.caps.limits()
        windows = cap_windows(campaign, at) if limits else ()

        def hold() -> Awaitable[str | None]:
            return self._reserve(campaign, limits, windows, lead_id, price, at, hold_s, person)

        if self._inline:
            # Cut off in time, the hold was never taken (rolled back): nothing lands late, so
            # no task has to stand by for it (a post's hold is then a call, not three loop turns).
            async with asyncio.timeout(hold_s):
                return await retrying(hold)
        taking = asyncio.ensure_future(retrying(hold))
        try:
            return await asyncio.wait_for(asyncio.shield(taking), hold_s)
        except TimeoutError:
            taking.add_done_callback(self._give_back_late)
            raise

    def _give_back_late(self, taking: asyncio.Future[str | None]) -> None:
        if taking.cancelled() or taking.exception() is not None or taking.result() is None:
            return
        late = asyncio.ensure_future(self.release(cast(str, taking.result())))
        self._late.add(late)
        late.add_done_callback(self._late.discard)

    async def _reserve(
        self,
        campaign: Campaign,
        limits: list[tuple[Period, int | None, Decimal | None]],
        windows: tuple[tuple[Period, str], ...],
        lead_id: str,
        price: Decimal,
        at: datetime,
        hold_s: float,
        person: PersonClaim | None,
    ) -> str | None:
        if self._at_once and len(windows) <= 1:
            decided, taken = await self._reserve_at_once(
                campaign, limits, windows, lead_id, price, at, hold_s, person
            )
            if decided:
                return taken
        full: Key | None = None
        holder: str | None = None
        reservation_id = str(uuid.uuid4())
        # What this transaction saw, kept for the in-process view once it commits: a rolled
        # back counter row (a new window's) must not be taken for one that exists.
        seen: list[tuple[Key, int, Decimal]] = []
        try:
            # engine.begin(): on inline SQLite one greenlet to open the transaction and one to
            # end it (connect() and then begin() take four and a task).
            async with self.engine.begin() as conn:
                # The one lock order (by period name, as settle() and raise_hold() take a
                # campaign's windows): two transactions on the same windows never deadlock.
                taking = sorted(zip(limits, windows, strict=True), key=_by_period)
                for (period, count_cap, budget), (_, window) in taking:
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
                    row = (await direct.execute(conn, stmt, params)).one_or_none()
                    if row is None:
                        full = key
                        raise _Refused
                    seen.append((key, row[0], row[1]))
                if person is not None:
                    holder = await claim_purchase(
                        conn,
                        buyer=person.buyer,
                        hashes=person.people,
                        lead_id=lead_id,
                        now=at,
                        window=timedelta(days=person.days),
                    )
                    if holder is not None:
                        raise _Refused  # neither room nor a partial claim is kept
                await direct.execute(
                    conn,
                    _INSERT_HOLD,
                    {
                        "id": reservation_id,
                        "campaign": campaign.name,
                        "lead_id": lead_id,
                        "price": price,
                        "windows": [[p, w] for p, w in windows],
                        "status": HELD,
                        "created_at": at,
                        "expires_at": at + timedelta(seconds=hold_s + HOLD_MARGIN_S),
                    },
                )
        except _Refused:  # rolled back
            if full is not None:
                # Remember the full window so eligibility skips the campaign without asking.
                async with self.engine.connect() as conn:
                    await self._remember(conn, campaign, full)
                return None
        if holder is not None:
            raise PersonTaken(holder)
        for window_key, count, amount in seen:  # committed
            self._known.add(window_key)
            self._note(campaign, window_key, count, amount)
        return reservation_id

    async def _reserve_at_once(
        self,
        campaign: Campaign,
        limits: list[tuple[Period, int | None, Decimal | None]],
        windows: tuple[tuple[Period, str], ...],
        lead_id: str,
        price: Decimal,
        at: datetime,
        hold_s: float,
        person: PersonClaim | None,
    ) -> tuple[bool, str | None]:
        """(decided, the hold or None when full) in one statement; not decided when the
        transaction path must say why not (the person is the buyer's: which lead has it)."""
        key: Key | None = None
        window: tuple[str, str, int | None, Decimal | None] | None = None
        if windows:
            (period, count_cap, budget), (_, name) = limits[0], windows[0]
            key = (campaign.name, period, name)
            if key not in self._known:
                async with self.engine.begin() as conn:
                    await self._ensure_counter(conn, key)
                self._known.add(key)
            window = (period, name, count_cap, budget)
        claim = None
        if person is not None:
            hashes = sorted(set(person.people))  # one order everywhere: no deadlock
            claim = (person.buyer, hashes, at - timedelta(days=person.days))
        reservation_id = str(uuid.uuid4())
        try:
            held, counter = await one_statement.hold(
                self.engine,
                reservation_id=reservation_id,
                campaign=campaign.name,
                lead_id=lead_id,
                price=price,
                window=window,
                person=claim,
                at=at,
                expires=at + timedelta(seconds=hold_s + HOLD_MARGIN_S),
            )
        except one_statement.PersonHeld:
            return False, None
        if key is not None and counter is not None:
            self._note(campaign, key, *counter)
        if held:
            return True, reservation_id
        if key is not None and counter is None:  # the window is full
            async with self.engine.connect() as conn:
                await self._remember(conn, campaign, key)
            return True, None
        return False, None  # no room needed, and the person is wholly the buyer's

    async def _ensure_counter(self, conn: AsyncConnection, key: Key) -> None:
        campaign, period, window = key
        insert = dialect_insert_for(conn.dialect.name)
        await conn.execute(
            insert(counters)
            .values(campaign=campaign, period=period, window=window, count=0, amount=Decimal(0))
            .on_conflict_do_nothing()
        )

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

    async def raise_hold(
        self, campaign: Campaign, reservation_id: str, *, price: Decimal, to: Decimal
    ) -> bool:
        """Raise an open hold taken at price to the higher price `to`, or leave it as it was.

        All or nothing, in one transaction: the hold's row (still held, at price) and each of
        its windows' amounts move by the difference, a budgeted window only while it has room
        for it (amount + difference <= budget, the same conditional UPDATE as a hold's), in
        the one lock order. True when the hold stands at `to` now; False when a budget has no
        room for the difference (or the hold is no longer open at price): nothing moved.
        A sale booked at `to` then finds nothing to reprice when it is settled.
        """
        if to <= price:
            raise ValueError(f"a raise goes up: {price} to {to}")
        budgets = {period: budget for period, _, budget in campaign.caps.limits()}
        seen: list[tuple[Key, int, Decimal]] = []

        async def raising() -> bool:
            seen.clear()
            try:
                async with self.engine.begin() as conn:
                    params = {"b_id": reservation_id, "b_held": price, "b_price": to}
                    row = (await direct.execute(conn, _RAISE_HOLD, params)).one_or_none()
                    if row is None:
                        return False  # settled, released or at another price: not ours to move
                    keys = sorted((campaign.name, p, w) for p, w in row[0])
                    for key in keys:  # the one lock order, as when room is given back
                        budget = budgets.get(cast(Period, key[1]))
                        moved = (
                            await direct.execute(
                                conn,
                                _raise_statement(budget is not None),
                                {
                                    "b_campaign": key[0],
                                    "b_period": key[1],
                                    "b_window": key[2],
                                    "price": to - price,
                                    "budget": budget,
                                },
                            )
                        ).one_or_none()
                        if moved is None:
                            raise _Refused  # no room for the difference: roll it all back
                        seen.append((key, moved[0], moved[1]))
            except _Refused:
                return False
            return True

        raised = await retrying(raising)
        for key, count, amount in seen if raised else ():  # committed
            self._known.add(key)
            self._note(campaign, key, count, amount)
        return raised

    async def settle(
        self, conn: AsyncConnection, *, sold: Mapping[str, Decimal], released: Iterable[str]
    ) -> None:
        """In the caller's transaction: holds that became sales are kept, the others given back.

        sold maps each kept hold to the price its sale was booked at. A sale booked at
        another price than its hold (a campaign's post_price taking the answer's price) moves
        the hold and its windows' amounts to the booked price, so the counters always equal
        booked sales plus open holds. The router books a price above the hold only once
        raise_hold() made room for it, so this moves a budget up only by what it had room for
        (and down, giving room back, however far). One statement marks them all (the hot path).
        """
        kept, gone = list(sold), list(released)
        if not kept and not gone:
            return
        if self._at_once:  # PostgreSQL
            settling = {"ids": kept + gone, "kept": kept}
            rows: list[Any] = (await direct.execute(conn, _SETTLE_ALL, settling)).rows
        else:
            listed = {"ids": json.dumps(kept + gone), "kept": json.dumps(kept)}
            rows = (await direct.execute(conn, _SETTLE_LISTED, listed)).rows
        await self._give_room_back(conn, [row for row in rows if row[0] == RELEASED])
        repriced = [
            (row, sold[row[4]] - row[2])
            for row in rows
            if row[0] == CONFIRMED and sold[row[4]] != row[2]
        ]
        for row, _change in repriced:
            await direct.send(conn, _REPRICE, {"b_id": row[4], "b_price": sold[row[4]]})
        moves = sorted(((row[1], p, w), change) for row, change in repriced for p, w in row[3])
        for key, change in moves:  # the one lock order, as when room is given back
            await self._reprice(conn, key, change)

    async def give_back(
        self, conn: AsyncConnection, ids: Iterable[str], *, from_status: str
    ) -> int:
        """Release open holds and give their room back (in the caller's transaction)."""
        wanted = list(ids)
        if not wanted:
            return 0
        rows = (
            await conn.execute(
                update(reservations)
                .where(reservations.c.id.in_(wanted), reservations.c.status == from_status)
                .values(status=RELEASED)
                .returning(*_SETTLED)
            )
        ).all()
        await self._give_room_back(conn, rows)
        return len(rows)

    async def _give_room_back(self, conn: AsyncConnection, rows: Sequence[Any]) -> None:
        # One order for every transaction, so two leads giving back room never deadlock.
        giving = sorted(((row[1], p, w), row[2]) for row in rows for p, w in row[3])
        if not giving:
            return
        # Every window in one executemany (one round trip, in this order).
        await direct.send(
            conn,
            _GIVE_BACK,
            [
                {
                    "b_campaign": key[0],
                    "b_period": key[1],
                    "b_window": key[2],
                    "price": price,
                    "one": 1,
                }
                for key, price in giving
            ],
        )
        for key, price in giving:  # the in-process view follows (housekeeping re-reads it)
            count, amount = self._seen.get(key, (1, price))
            self._seen[key] = (max(count - 1, 0), max(amount - price, Decimal(0)))

    async def release(self, reservation_id: str) -> None:
        """Give held room back on its own (an inbound ping that will not be posted)."""

        async def give_back() -> None:
            async with self.engine.begin() as conn:
                await self.give_back(conn, [reservation_id], from_status=HELD)

        await retrying(give_back)

    async def _reprice(self, conn: AsyncConnection, key: Key, change: Decimal) -> None:
        """Move a window's amount by a kept sale's change of price (its count stays)."""
        campaign, period, window = key
        params = {"b_campaign": campaign, "b_period": period, "b_window": window}
        await direct.send(conn, _GIVE_BACK, {**params, "price": -change, "one": 0})
        count, amount = self._seen.get(key, (0, Decimal(0)))
        self._seen[key] = (count, amount + change)

    async def prune(self, *, older_than: datetime) -> int:
        """Delete journal rows created before older_than that nothing reads again: released
        holds, and confirmed ones with no lifetime window (a return gives a lifetime cap its
        room back however late; other windows are long over). Held and uncertain rows stay."""
        pruned = 0
        for _ in range(PRUNE_ROUNDS):
            async with self.engine.begin() as conn:
                ids = (
                    await conn.scalars(
                        select(reservations.c.id)
                        .where(
                            reservations.c.created_at < older_than,
                            or_(
                                reservations.c.status == RELEASED,
                                (reservations.c.status == CONFIRMED)
                                & sql_cast(reservations.c.windows, Text).not_like('%"lifetime"%'),
                            ),
                        )
                        .limit(PRUNE_BATCH)
                    )
                ).all()
                if ids:
                    await conn.execute(delete(reservations).where(reservations.c.id.in_(ids)))
            pruned += len(ids)
            if len(ids) < PRUNE_BATCH:
                break
        return pruned

    async def release_expired(self) -> int:
        """Release held rows past their expiry that no stored lead owns (unused inbound pings).

        A hold whose lead was stored belongs to recovery: its post may have been sent.
        """
        now = self.clock.now()
        stored = select(leads.c.id).where(leads.c.id == reservations.c.lead_id).exists()
        async with self.engine.connect() as conn:
            ids = (
                await conn.scalars(
                    select(reservations.c.id).where(
                        reservations.c.status == HELD, reservations.c.expires_at < now, ~stored
                    )
                )
            ).all()
        for reservation_id in ids:
            await self.release(reservation_id)
        return len(ids)

    async def refresh(self, campaigns: list[Campaign]) -> None:
        """Load the current windows' counters into the in-process view, in one statement
        (housekeeping asks every config_poll_s, for every campaign)."""
        wanted, found = await self._current_windows(campaigns, self.clock.now())
        for key, (count, amount) in found.items():
            self._note(wanted[key], key, count, amount)

    async def _current_windows(
        self, campaigns: Iterable[Campaign], at: datetime
    ) -> tuple[dict[Key, Campaign], dict[Key, tuple[int, Decimal]]]:
        """The campaigns' windows at `at`, and the counters stored for them, in one read."""
        wanted: dict[Key, Campaign] = {
            (campaign.name, period, window): campaign
            for campaign in campaigns
            for period, window in cap_windows(campaign, at)
        }
        if not wanted:
            return wanted, {}
        params = {
            "names": sorted({key[0] for key in wanted}),
            "windows": sorted({key[2] for key in wanted}),
        }
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_WINDOWS_OF, params)).all()
        # The IN lists also match other campaigns' windows: only the wanted are kept.
        found = {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}
        return wanted, {key: found[key] for key in wanted if key in found}
