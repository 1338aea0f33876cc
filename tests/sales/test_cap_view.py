"""The in-process cap view across processes: what one process saw full, another may have
given back; recheck() reads the counters again from the database, the authority.

On SQLite and PostgreSQL; time from a ManualClock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.buyers.model import Campaign
from pingtree.clock import ManualClock
from pingtree.sales.ledger import SqlCapLedger
from pingtree.storage.db import create_engine
from tests.sales.test_ledger import CAPPED, NOW

HOLD_S = 30.0
"""A hold's time limit: generous, these tests are not about it (a loaded machine may
take over a second for a first hold on a new connection)."""


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _hold(ledger: SqlCapLedger, lead_id: str) -> str | None:
    return await ledger.reserve(
        CAPPED, lead_id=lead_id, price=Decimal("10.00"), at=NOW, hold_s=HOLD_S
    )


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


async def test_the_view_reports_a_spent_budget_and_a_new_window_as_open(
    engine: AsyncEngine,
) -> None:
    # A budget-only campaign: two 10.00 holds spend its 20.00; the view says so (not a
    # count cap). The next day is a new window the view has not seen: open.
    budgeted = Campaign.model_validate(
        {**CAPPED.model_dump(mode="json", exclude={"caps", "name"}), "name": "budget_only",
         "caps": {"budget": {"daily": "20.00"}}}
    )  # fmt: skip
    ledger = SqlCapLedger(engine, ManualClock(NOW))

    async def hold(lead_id: str, at: datetime = NOW) -> str | None:
        return await ledger.reserve(
            budgeted, lead_id=lead_id, price=Decimal("10.00"), at=at, hold_s=HOLD_S
        )

    assert await hold("a") is not None and await hold("b") is not None
    assert await hold("c") is None
    assert ledger.room(budgeted, NOW) == "daily budget 20.00 spent"
    assert ledger.room(budgeted, NOW + timedelta(days=1)) is None
    assert ledger.room(CAPPED, NOW) is None  # another campaign, never seen full


async def test_room_given_back_in_this_process_opens_the_view_at_once(
    engine: AsyncEngine,
) -> None:
    # A cap of 2 taken by two holds; one given back: the view counts 1 of 2 again.
    two = CAPPED.model_copy(update={"name": "two"})
    two = Campaign.model_validate({**two.model_dump(mode="json"), "caps": {"daily": 2}})
    ledger = SqlCapLedger(engine, ManualClock(NOW))
    held = [
        await ledger.reserve(two, lead_id=f"l{i}", price=Decimal("10.00"), at=NOW, hold_s=HOLD_S)
        for i in range(3)
    ]
    assert held[2] is None and ledger.room(two, NOW) == "daily cap 2 reached"
    assert held[0] is not None
    await ledger.release(held[0])
    assert ledger.room(two, NOW) is None
    assert await ledger.reserve(two, lead_id="l9", price=Decimal("10.00"), at=NOW, hold_s=HOLD_S)
    assert ledger.room(two, NOW) == "daily cap 2 reached"


async def test_a_window_never_seen_counts_nothing_and_has_room(engine: AsyncEngine) -> None:
    # A cap of one lead and a budget of 1.00 a day, both spent today: tomorrow is a window no
    # process has counted yet: nothing in it, room in the view and in the database.
    tight = Campaign.model_validate(
        {**CAPPED.model_dump(mode="json", exclude={"caps", "name"}), "name": "tight",
         "caps": {"daily": 1, "budget": {"daily": "1.00"}}}
    )  # fmt: skip
    ledger = SqlCapLedger(engine, ManualClock(NOW))

    async def hold(lead_id: str) -> str | None:
        return await ledger.reserve(
            tight, lead_id=lead_id, price=Decimal("1.00"), at=NOW, hold_s=HOLD_S
        )

    assert await hold("a") is not None
    assert await hold("b") is None
    assert ledger.room(tight, NOW) == "daily cap 1 reached"
    tomorrow = NOW + timedelta(days=1)
    assert ledger.seen(("tight", "daily", "2026-11-26")) == (0, Decimal(0))
    assert ledger.room(tight, tomorrow) is None
    assert await ledger.recheck([tight], tomorrow) is True
    assert ledger.room(tight, tomorrow) is None
    assert ledger.seen(("tight", "daily", "2026-11-26")) == (0, Decimal(0))


async def test_recheck_counts_leads_and_money_apart(engine: AsyncEngine) -> None:
    # One 10.00 lead of a cap of two: one lead counted (not ten), so there is room.
    two = Campaign.model_validate(
        {**CAPPED.model_dump(mode="json", exclude={"caps", "name"}), "name": "two",
         "caps": {"daily": 2}}
    )  # fmt: skip
    here = SqlCapLedger(engine, ManualClock(NOW))
    there = SqlCapLedger(engine, ManualClock(NOW))
    held = await there.reserve(two, lead_id="l1", price=Decimal("10.00"), at=NOW, hold_s=HOLD_S)
    assert held is not None
    assert await here.recheck([two], NOW) is True
    assert here.seen(("two", "daily", "2026-11-25")) == (1, Decimal("10.00"))


async def test_refresh_loads_each_campaigns_current_windows(engine: AsyncEngine) -> None:
    # Another process filled CAPPED today, and holds in other campaigns and days: refresh
    # reads exactly this campaign's current windows into the view.
    other = Campaign.model_validate(
        {**CAPPED.model_dump(mode="json", exclude={"name"}), "name": "other"}
    )
    there = SqlCapLedger(engine, ManualClock(NOW))
    for campaign, at in ((CAPPED, NOW), (CAPPED, NOW + timedelta(days=1)), (other, NOW)):
        held = await there.reserve(
            campaign, lead_id=f"{campaign.name}-{at.day}", price=Decimal("10.00"), at=at,
            hold_s=HOLD_S,
        )  # fmt: skip
        assert held is not None
    clock = ManualClock(NOW)
    here = SqlCapLedger(engine, clock)
    await here.refresh([CAPPED, other])
    assert here.seen((CAPPED.name, "daily", "2026-11-25")) == (1, Decimal("10.00"))
    assert here.seen(("other", "daily", "2026-11-25")) == (1, Decimal("10.00"))
    assert here.room(CAPPED, NOW) == "daily cap 1 reached"
    assert here.room(other, NOW) == "daily cap 1 reached"
    assert here.seen((CAPPED.name, "daily", "2026-11-26")) == (0, Decimal(0))
    clock.advance(2 * 86400)  # a day with no counter yet: nothing to load, room
    await here.refresh([CAPPED])
    assert here.room(CAPPED, clock.now()) is None
