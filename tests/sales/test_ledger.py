"""The cap ledger's holds: a settled sale keeps its room, even past the hold's expiry.

On SQLite and PostgreSQL; time from a ManualClock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.buyers.model import Campaign
from pingtree.clock import ManualClock
from pingtree.sales.ledger import CONFIRMED, RELEASED, SqlCapLedger, reservations
from pingtree.storage.db import create_engine

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def _capped(daily: int) -> Campaign:
    return Campaign.model_validate(
        {
            "name": f"capped_{daily}",
            "buyer": "b",
            "vertical": "auto",
            "price": {"type": "fixed", "amount": "10.00"},
            "caps": {"daily": daily},
            "delivery": {"post": {"url": "http://127.0.0.1:9/post", "response": RESPONSE}},
        }
    )


RESPONSE = {"rules": [{"source": "status", "equals": "200", "outcome": "accepted"}]}
CAPPED = _capped(1)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _status(engine: AsyncEngine, reservation: str) -> str:
    async with engine.connect() as conn:
        found: str = await conn.scalar(
            select(reservations.c.status).where(reservations.c.id == reservation)
        )
        return found


async def _hold(ledger: SqlCapLedger, lead_id: str) -> str | None:
    return await ledger.reserve(
        CAPPED, lead_id=lead_id, price=Decimal("10.00"), at=ledger.clock.now(), hold_s=1.0
    )


async def test_a_settled_sale_keeps_its_room_after_the_hold_expires(engine: AsyncEngine) -> None:
    # An inbound ping's hold, posted later: the lead's record confirms it. Housekeeping
    # after the hold's expiry must not give the room back (the cap would sell twice).
    clock = ManualClock(NOW)
    ledger = SqlCapLedger(engine, clock)
    held = await _hold(ledger, "ping-lead")
    assert held is not None
    async with engine.begin() as conn:
        await ledger.settle(conn, sold=[held], released=[])
    assert await _status(engine, held) == CONFIRMED
    clock.advance(3600)
    assert await ledger.release_expired() == 0
    assert await _hold(ledger, "second-lead") is None


async def test_a_released_hold_gives_its_room_back(engine: AsyncEngine) -> None:
    ledger = SqlCapLedger(engine, ManualClock(NOW))
    held = await _hold(ledger, "lead-1")
    assert held is not None
    assert await _hold(ledger, "lead-2") is None
    async with engine.begin() as conn:
        await ledger.settle(conn, sold=[], released=[held])
    assert await _status(engine, held) == RELEASED
    assert await _hold(ledger, "lead-3") is not None


async def test_settling_touches_only_the_leads_own_open_holds(engine: AsyncEngine) -> None:
    two = _capped(2)
    ledger = SqlCapLedger(engine, ManualClock(NOW))

    async def hold(lead_id: str) -> str | None:
        return await ledger.reserve(
            two, lead_id=lead_id, price=Decimal("10.00"), at=NOW, hold_s=1.0
        )

    mine, other = await hold("mine"), await hold("other")
    assert mine is not None and other is not None
    async with engine.begin() as conn:
        await ledger.settle(conn, sold=[], released=[mine])
    assert await _status(engine, other) == "held"
    # Settling the same hold again (a retried record) gives no room back twice.
    async with engine.begin() as conn:
        await ledger.settle(conn, sold=[], released=[mine])
    assert await hold("third") is not None
    assert await hold("fourth") is None
