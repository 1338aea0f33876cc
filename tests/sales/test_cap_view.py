"""The in-process cap view across processes: what one process saw full, another may have
given back; recheck() reads the counters again from the database, the authority.

On SQLite and PostgreSQL; time from a ManualClock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.clock import ManualClock
from pingtree.sales.ledger import SqlCapLedger
from pingtree.storage.db import create_engine
from tests.sales.test_ledger import CAPPED, NOW


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _hold(ledger: SqlCapLedger, lead_id: str) -> str | None:
    return await ledger.reserve(CAPPED, lead_id=lead_id, price=Decimal("10.00"), at=NOW, hold_s=1.0)


async def test_room_given_back_by_another_process_is_seen_before_refusing(
    engine: AsyncEngine,
) -> None:
    # Two processes, one database: A sees the cap full; B gives the room back. A's view
    # still says full until it reads the counters again; recheck() reads them.
    here = SqlCapLedger(engine, ManualClock(NOW))
    there = SqlCapLedger(engine, ManualClock(NOW))
    held = await _hold(there, "lead-there")
    assert held is not None
    assert await _hold(here, "lead-here") is None
    assert here.room(CAPPED, NOW) == "daily cap 1 reached"
    await there.release(held)
    assert here.room(CAPPED, NOW) == "daily cap 1 reached"  # stale: the view alone
    assert await here.recheck([CAPPED], NOW) is True
    assert here.room(CAPPED, NOW) is None
    assert await _hold(here, "lead-here") is not None


async def test_recheck_keeps_a_campaign_out_while_the_database_says_full(
    engine: AsyncEngine,
) -> None:
    here = SqlCapLedger(engine, ManualClock(NOW))
    there = SqlCapLedger(engine, ManualClock(NOW))
    assert await _hold(there, "lead-1") is not None
    assert here.room(CAPPED, NOW) is None  # never saw the counter: reserve() decides
    assert await _hold(here, "lead-2") is None
    assert await here.recheck([CAPPED], NOW) is False
    assert here.room(CAPPED, NOW) == "daily cap 1 reached"
    assert await here.recheck([], NOW) is False  # nothing to read
    assert here.room(CAPPED, NOW) == "daily cap 1 reached"
