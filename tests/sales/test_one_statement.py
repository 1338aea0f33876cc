"""Holds beyond one daily cap: several capped windows, no cap at all, and on PostgreSQL the
one-statement hold (sales.one_statement): one round trip per post, and a hold the database
gives too late is given back.

On SQLite and PostgreSQL unless marked; time from a ManualClock (the hold's timeout is the
event loop's).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.buyers.model import Campaign
from pingtree.clock import ManualClock
from pingtree.routing.ports import PersonClaim, PersonTaken
from pingtree.sales.ledger import RELEASED, SqlCapLedger, counters, reservations
from pingtree.sales.windows import cap_windows
from pingtree.storage.db import create_engine
from pingtree.storage.tables import BuyerPurchase
from tests.sales.test_ledger import CAPPED, NOW

HOLD_S = 30.0
"""A hold's time limit: generous, these tests are not about it (a loaded machine may
take over a second for a first hold on a new connection)."""

TEN = Decimal("10.00")


def _campaign(name: str, caps: dict[str, object]) -> Campaign:
    return Campaign.model_validate(
        {**CAPPED.model_dump(mode="json", exclude={"caps", "name"}), "name": name, "caps": caps}
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@contextmanager
def _statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements the engine sends while inside (round trips to the database)."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def test_every_capped_window_is_exact_when_a_campaign_has_several(
    engine: AsyncEngine,
) -> None:
    # A daily cap of 5 and an hourly cap of 1: the hour's one lead fills the hourly window
    # though the day has room; the next hour has room again.
    both = _campaign("hour_and_day", {"daily": 5, "hourly": 1})
    ledger = SqlCapLedger(engine, ManualClock(NOW))

    async def hold(lead_id: str, hours: int = 0) -> str | None:
        at = NOW + timedelta(hours=hours)
        return await ledger.reserve(both, lead_id=lead_id, price=TEN, at=at, hold_s=HOLD_S)

    with _statements(engine) as sent:
        first = await hold("first")
        assert first is not None
        assert await hold("second") is None
        assert ledger.room(both, NOW) == "hourly cap 1 reached"
        assert await hold("next-hour", hours=1) is not None
    async with engine.connect() as conn:
        taken = sorted((await conn.execute(select(counters.c.window, counters.c.count))).all())
    assert taken == [("2026-11-25", 2), ("2026-11-25T15", 1), ("2026-11-25T16", 1)]
    # The process creates each window's counter row once: the day's, then each hour's.
    assert sum(s.startswith("INSERT INTO cap_counters") for s in sent) == 3
    # A sale booked at its hold's price is settled in one statement (the hot path).
    async with engine.begin() as conn:
        with _statements(engine) as sent:
            await ledger.settle(conn, sold={first: TEN}, released=[])
    assert len(sent) == 1


async def test_an_uncapped_campaign_journals_its_hold_and_claims_the_person(
    engine: AsyncEngine,
) -> None:
    # No cap: no window to take, but the post is journaled (no windows) and the buyer's
    # claim on the person taken with it; the next lead of that person is the buyer's.
    uncapped = _campaign("uncapped", {})
    ledger = SqlCapLedger(engine, ManualClock(NOW))
    person = PersonClaim(buyer="b", days=30, people=("person-1",))
    held = await ledger.reserve(
        uncapped, lead_id="lead-1", price=TEN, at=NOW, hold_s=HOLD_S, person=person
    )
    assert held is not None
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(reservations.c.lead_id, reservations.c.windows, reservations.c.status)
            )
        ).one()
        assert row == ("lead-1", [], "held")
        assert (await conn.execute(select(counters))).all() == []
    with pytest.raises(PersonTaken) as taken:
        await ledger.reserve(
            uncapped, lead_id="lead-2", price=TEN, at=NOW, hold_s=HOLD_S, person=person
        )
    assert taken.value.holder == "lead-1"
    other = await ledger.reserve(uncapped, lead_id="lead-3", price=TEN, at=NOW, hold_s=HOLD_S)
    assert other is not None


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: a transaction
async def test_on_postgresql_a_hold_is_one_statement(engine: AsyncEngine) -> None:
    # The one-statement hold: cap window, person claim and journal row in one round trip
    # (a window this process has not seen yet costs one more, to create its counter). A
    # full window costs one more read, for the in-process view.
    one = _campaign("one_a_day", {"daily": 2})
    uncapped = _campaign("uncapped", {})
    ledger = SqlCapLedger(engine, ManualClock(NOW))

    async def hold(campaign: Campaign, lead_id: str, *people: str) -> str | None:
        person = PersonClaim(buyer="b", days=30, people=people) if people else None
        return await ledger.reserve(
            campaign, lead_id=lead_id, price=TEN, at=NOW, hold_s=HOLD_S, person=person
        )

    with _statements(engine) as sent:
        assert await hold(one, "lead-1") is not None
    assert len(sent) == 2  # the new window's counter, then the hold
    with _statements(engine) as sent:
        assert await hold(one, "lead-2", "person-2") is not None
    assert len(sent) == 1
    with _statements(engine) as sent:
        assert await hold(one, "lead-3") is None
    assert len(sent) == 2
    assert ledger.room(one, NOW) == "daily cap 2 reached"
    with _statements(engine) as sent:
        assert await hold(uncapped, "lead-4") is not None
        assert await hold(uncapped, "lead-5", "person-5") is not None
    assert len(sent) == 2
    # A claim older than the buyer's dedup window is the buyer's to take again, at once.
    async with engine.begin() as conn:
        await conn.execute(
            insert(BuyerPurchase).values(
                person_hash="person-6", buyer="b", lead_id="long-ago", sold_at=NOW - timedelta(31)
            )
        )
    with _statements(engine) as sent:
        assert await hold(uncapped, "lead-6", "person-6") is not None
    assert len(sent) == 1
    async with engine.connect() as conn:
        holders = dict(
            (await conn.execute(select(BuyerPurchase.person_hash, BuyerPurchase.lead_id))).all()
        )
    assert holders == {"person-2": "lead-2", "person-5": "lead-5", "person-6": "lead-6"}
    ((period, window),) = cap_windows(one, NOW)
    assert ledger.seen((one.name, period, window)) == (2, Decimal("20.00"))


async def _status_of(engine: AsyncEngine, lead_id: str) -> str | None:
    async with engine.connect() as conn:
        status: str | None = await conn.scalar(
            select(reservations.c.status).where(reservations.c.lead_id == lead_id)
        )
        return status


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: no row locks
async def test_a_hold_the_database_gives_too_late_is_given_back(engine: AsyncEngine) -> None:
    # The counter row is locked by another transaction past the post's hold time: reserve
    # gives up (TimeoutError), and once the lock goes the late hold lands and is released
    # at once, its room given back (the post went without it).
    two = _campaign("two_a_day", {"daily": 2})
    ledger = SqlCapLedger(engine, ManualClock(NOW))
    assert await ledger.reserve(two, lead_id="first", price=TEN, at=NOW, hold_s=HOLD_S) is not None
    window = counters.c.campaign == two.name
    async with engine.connect() as blocker:
        await blocker.begin()
        await blocker.execute(select(counters).where(window).with_for_update())

        async def unblock() -> None:
            await asyncio.sleep(0.5)
            await blocker.rollback()

        unblocking = asyncio.ensure_future(unblock())
        with pytest.raises(TimeoutError):
            await ledger.reserve(two, lead_id="late", price=TEN, at=NOW, hold_s=0.2)
        await unblocking
    for _ in range(100):  # the late hold lands after the lock, then is given back
        if await _status_of(engine, "late") == RELEASED:
            break
        await asyncio.sleep(0.05)
    assert await _status_of(engine, "late") == RELEASED
    async with engine.connect() as conn:
        room = (await conn.execute(select(counters.c.count, counters.c.amount))).one()
    assert room == (1, TEN)
    assert await ledger.reserve(two, lead_id="second", price=TEN, at=NOW, hold_s=HOLD_S)
    assert await ledger.reserve(two, lead_id="third", price=TEN, at=NOW, hold_s=HOLD_S) is None
