"""The cap ledger's holds: a settled sale keeps its room, even past the hold's expiry.

On SQLite and PostgreSQL; time from a ManualClock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.buyers.model import Campaign
from pingtree.clock import ManualClock
from pingtree.routing.ports import PersonClaim, PersonTaken
from pingtree.sales import ledger as ledger_module
from pingtree.sales.ledger import (
    CONFIRMED,
    HOLD_MARGIN_S,
    RELEASED,
    SqlCapLedger,
    counters,
    reservations,
)
from pingtree.sales.windows import cap_windows
from pingtree.storage.db import create_engine
from pingtree.storage.tables import BuyerPurchase, Lead

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
HOLD_S = 30.0
"""A hold's time limit (and life) where the test is about neither: generous, so that a
first hold on a loaded machine is never cut off."""


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
        CAPPED, lead_id=lead_id, price=Decimal("10.00"), at=ledger.clock.now(), hold_s=HOLD_S
    )


async def test_a_settled_sale_keeps_its_room_after_the_hold_expires(engine: AsyncEngine) -> None:
    # An inbound ping's hold, posted later: the lead's record confirms it. Housekeeping
    # after the hold's expiry must not give the room back (the cap would sell twice).
    clock = ManualClock(NOW)
    ledger = SqlCapLedger(engine, clock)
    held = await _hold(ledger, "ping-lead")
    assert held is not None
    async with engine.begin() as conn:
        await ledger.settle(conn, sold={held: Decimal("10.00")}, released=[])
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
        await ledger.settle(conn, sold={}, released=[held])
    assert await _status(engine, held) == RELEASED
    assert await _hold(ledger, "lead-3") is not None


async def test_settling_touches_only_the_leads_own_open_holds(engine: AsyncEngine) -> None:
    two = _capped(2)
    ledger = SqlCapLedger(engine, ManualClock(NOW))

    async def hold(lead_id: str) -> str | None:
        return await ledger.reserve(
            two, lead_id=lead_id, price=Decimal("10.00"), at=NOW, hold_s=HOLD_S
        )

    mine, other = await hold("mine"), await hold("other")
    assert mine is not None and other is not None
    async with engine.begin() as conn:
        await ledger.settle(conn, sold={}, released=[mine])
    assert await _status(engine, other) == "held"
    # Settling the same hold again (a retried record) gives no room back twice.
    async with engine.begin() as conn:
        await ledger.settle(conn, sold={}, released=[mine])
    assert await hold("third") is not None
    assert await hold("fourth") is None


async def test_a_sale_booked_at_another_price_moves_its_budget_to_that_price(
    engine: AsyncEngine,
) -> None:
    # post_price: answer or lower books the sale at the post answer's price, not the bid the
    # hold was taken at: the counters follow the booked price (booked sales + open holds).
    budgeted = Campaign.model_validate(
        {
            **CAPPED.model_dump(mode="json", exclude={"caps"}),
            "name": "budgeted",
            "caps": {"budget": {"daily": "50.00"}},
        }
    )
    ledger = SqlCapLedger(engine, ManualClock(NOW))

    async def hold(lead_id: str, price: str) -> str | None:
        return await ledger.reserve(
            budgeted, lead_id=lead_id, price=Decimal(price), at=NOW, hold_s=HOLD_S
        )

    high, low = await hold("high", "20.00"), await hold("low", "20.00")
    assert high is not None and low is not None
    async with engine.begin() as conn:
        await ledger.settle(conn, sold={high: Decimal("25.00"), low: Decimal("12.50")}, released=[])
    async with engine.connect() as conn:
        counted = (await conn.execute(select(counters.c.count, counters.c.amount))).one()
        prices = dict((await conn.execute(select(reservations.c.id, reservations.c.price))).all())
    assert counted == (2, Decimal("37.50"))  # the price moves; the count of leads stays
    assert prices == {high: Decimal("25.00"), low: Decimal("12.50")}
    ((period, window),) = cap_windows(budgeted, NOW)
    key = (budgeted.name, period, window)
    assert ledger.seen(key) == (2, Decimal("37.50"))
    assert await hold("fits", "12.50") is not None  # 37.50 + 12.50 = 50.00 exactly
    assert await hold("over", "0.01") is None
    # Another process records a sale of a window it never counted: the database moves;
    # that process's view counts no lead it has not seen.
    fits = await _hold_of(engine, "fits")
    there = SqlCapLedger(engine, ManualClock(NOW))
    async with engine.begin() as conn:
        await there.settle(conn, sold={fits: Decimal("10.00")}, released=[])
    async with engine.connect() as conn:
        assert await conn.scalar(select(counters.c.amount)) == Decimal("47.50")
    assert there.seen(key)[0] == 0


async def _hold_of(engine: AsyncEngine, lead_id: str) -> str:
    async with engine.connect() as conn:
        found: str = (
            await conn.execute(select(reservations.c.id).where(reservations.c.lead_id == lead_id))
        ).scalar_one()
        return found


async def _counted(engine: AsyncEngine) -> tuple[int, Decimal]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(counters.c.count, counters.c.amount))).one()
        return row[0], row[1]


async def test_room_given_back_follows_in_the_view_and_the_counters(engine: AsyncEngine) -> None:
    # Three 10.00 leads a day: two held, one given back by this process (its view counts
    # one), the other by a process that never saw the window (its view counts none, never
    # below nothing). A confirmed sale is never given back by a release.
    three = _capped(3)
    ledger = SqlCapLedger(engine, ManualClock(NOW))

    async def hold(lead_id: str) -> str:
        held = await ledger.reserve(
            three, lead_id=lead_id, price=Decimal("10.00"), at=NOW, hold_s=HOLD_S
        )
        assert held is not None
        return held

    first, second, sold = await hold("first"), await hold("second"), await hold("sold")
    async with engine.begin() as conn:
        await ledger.settle(conn, sold={sold: Decimal("10.00")}, released=[])
    ((period, window),) = cap_windows(three, NOW)
    key = (three.name, period, window)
    assert ledger.seen(key) == (3, Decimal("30.00"))
    await ledger.release(first)
    assert ledger.seen(key) == (2, Decimal("20.00"))
    assert await _counted(engine) == (2, Decimal("20.00"))
    there = SqlCapLedger(engine, ManualClock(NOW))
    await there.release(second)
    assert there.seen(key) == (0, Decimal(0))
    assert await _counted(engine) == (1, Decimal("10.00"))
    await ledger.release(sold)  # confirmed: not a hold to give back
    assert await _status(engine, sold) == CONFIRMED
    assert await _counted(engine) == (1, Decimal("10.00"))
    async with engine.begin() as conn:
        assert await ledger.give_back(conn, [], from_status="held") == 0
        assert await ledger.give_back(conn, [first, second, sold], from_status="held") == 0


async def test_a_housekeeping_pass_prunes_a_bounded_number_of_rows(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At most PRUNE_ROUNDS transactions of PRUNE_BATCH rows per pass: the rest next time.
    clock = ManualClock(NOW)
    ledger = SqlCapLedger(engine, clock)
    for n in range(3):
        held = await ledger.reserve(
            _capped(10), lead_id=f"lead-{n}", price=Decimal("10.00"), at=NOW, hold_s=1.0
        )
        assert held is not None
        await ledger.release(held)
    monkeypatch.setattr(ledger_module, "PRUNE_BATCH", 1)
    monkeypatch.setattr(ledger_module, "PRUNE_ROUNDS", 2)
    clock.advance(1)
    assert await ledger.prune(older_than=clock.now()) == 2
    assert await _held_rows(engine) == 1
    assert await ledger.prune(older_than=clock.now()) == 1
    assert await _held_rows(engine) == 0


async def _held_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return len((await conn.execute(select(reservations.c.id))).all())


async def test_the_persons_claim_is_taken_with_the_hold_or_neither_is(engine: AsyncEngine) -> None:
    # One transaction per post: the buyer's claim on the person and the cap hold commit
    # together. A buyer that has the person gets neither: no room taken, no journal row.
    two = _capped(2)
    ledger = SqlCapLedger(engine, ManualClock(NOW))
    person = PersonClaim(buyer="b", days=30, people=("person-1", "person-2"))

    async def hold(lead_id: str) -> str | None:
        return await ledger.reserve(
            two, lead_id=lead_id, price=Decimal("10.00"), at=NOW, hold_s=HOLD_S, person=person
        )

    first = await hold("lead-1")
    assert first is not None
    async with engine.connect() as conn:
        holder = await conn.scalar(
            select(BuyerPurchase.lead_id).where(BuyerPurchase.person_hash == "person-1")
        )
    assert holder == "lead-1"
    with pytest.raises(PersonTaken) as taken:
        await hold("lead-2")
    assert taken.value.holder == "lead-1"
    # A person only partly the buyer's (person-2 is lead-1's, person-3 is free): nothing
    # is kept of the attempt, not even the free hash's claim.
    partly = PersonClaim(buyer="b", days=30, people=("person-2", "person-3"))
    with pytest.raises(PersonTaken):
        await ledger.reserve(
            two, lead_id="lead-4", price=Decimal("10.00"), at=NOW, hold_s=HOLD_S, person=partly
        )
    async with engine.connect() as conn:
        claims = (await conn.execute(select(BuyerPurchase.person_hash))).scalars().all()
    assert sorted(claims) == ["person-1", "person-2"]
    assert await _held_rows(engine) == 1
    # The duplicate took no room: the cap of two still has one left, for another person.
    other = await ledger.reserve(
        two, lead_id="lead-3", price=Decimal("10.00"), at=NOW, hold_s=HOLD_S
    )
    assert other is not None
    ((period, window),) = cap_windows(two, NOW)
    assert ledger.seen((two.name, period, window)) == (2, Decimal("20.00"))


async def test_a_refused_claim_in_a_new_window_leaves_the_window_usable(
    engine: AsyncEngine,
) -> None:
    # The first hold of a window creates its counter row; when the claim is refused, that
    # row is rolled back with it, and the next hold must create it again (not find no row
    # and take the window for full).
    ledger = SqlCapLedger(engine, ManualClock(NOW))
    async with engine.begin() as conn:
        await conn.execute(
            insert(BuyerPurchase).values(
                person_hash="person-1", buyer="b", lead_id="earlier", sold_at=NOW
            )
        )
    person = PersonClaim(buyer="b", days=30, people=("person-1",))
    with pytest.raises(PersonTaken):
        await ledger.reserve(
            _capped(5),
            lead_id="lead-1",
            price=Decimal("10.00"),
            at=NOW,
            hold_s=HOLD_S,
            person=person,
        )
    held = await ledger.reserve(
        _capped(5), lead_id="lead-2", price=Decimal("10.00"), at=NOW, hold_s=HOLD_S
    )
    assert held is not None


async def test_settled_journal_rows_are_pruned_once_their_windows_are_over(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Released holds and confirmed ones without a lifetime window go after the keep time;
    # open (held) rows and a lifetime cap's confirmed row (a return frees its room) stay.
    lifetime = Campaign.model_validate(
        {**CAPPED.model_dump(mode="json", exclude={"caps", "name"}), "name": "for_life",
         "caps": {"lifetime": 100}}
    )  # fmt: skip
    clock = ManualClock(NOW)
    ledger = SqlCapLedger(engine, clock)
    wide = _capped(10)

    async def hold(campaign: Campaign, lead_id: str) -> str:
        held = await ledger.reserve(
            campaign, lead_id=lead_id, price=Decimal("10.00"), at=clock.now(), hold_s=1.0
        )
        assert held is not None
        return held

    sold, gone, kept_for_life, open_ = (
        await hold(wide, "sold"),
        await hold(wide, "gone"),
        await hold(lifetime, "life"),
        await hold(wide, "open"),
    )
    async with engine.begin() as conn:
        await ledger.settle(conn, sold={sold: Decimal("10.00")}, released=[gone])
        await ledger.settle(conn, sold={kept_for_life: Decimal("10.00")}, released=[])
    clock.advance(86400 * 10)
    recent = await hold(wide, "recent")
    async with engine.begin() as conn:
        await ledger.settle(conn, sold={}, released=[recent])
    monkeypatch.setattr(ledger_module, "PRUNE_BATCH", 1)  # one row per transaction
    assert await ledger.prune(older_than=clock.now() - (clock.now() - NOW) / 2) == 2
    async with engine.connect() as conn:
        left = set((await conn.scalars(select(reservations.c.id))).all())
    assert left == {kept_for_life, open_, recent}
    assert await ledger.prune(older_than=clock.now()) == 0  # created at this very moment
    clock.advance(0.001)
    assert await ledger.prune(older_than=clock.now()) == 1  # now the recent release too


async def test_expired_holds_no_stored_lead_owns_give_their_room_back(
    engine: AsyncEngine,
) -> None:
    # An inbound ping's hold that was never posted gives its room back once expired; a hold
    # whose lead was stored is recovery's (its post may have gone out); one not yet expired
    # stays, to the microsecond.
    three = _capped(3)
    clock = ManualClock(NOW)
    ledger = SqlCapLedger(engine, clock)

    async def hold(lead_id: str, hold_s: float) -> str:
        held = await ledger.reserve(
            three, lead_id=lead_id, price=Decimal("10.00"), at=clock.now(), hold_s=hold_s
        )
        assert held is not None
        return held

    unposted, posted, longer = (
        await hold("ping-1", 1.0),
        await hold("stored-1", 1.0),
        await hold("ping-2", 3600.0),
    )
    async with engine.begin() as conn:
        await conn.execute(
            insert(Lead).values(
                id="stored-1",
                publisher="p",
                vertical="auto",
                status="received",
                test=False,
                fields={},
                received_at=NOW,
            )
        )
    full = await ledger.reserve(
        three, lead_id="full", price=Decimal("10.00"), at=clock.now(), hold_s=1.0
    )
    assert full is None  # three holds: the cap of 3 is taken
    clock.advance(1.0 + HOLD_MARGIN_S)  # the unposted hold's very moment of expiry
    assert await ledger.release_expired() == 0
    clock.advance(0.001)
    assert await ledger.release_expired() == 1
    assert [await _status(engine, r) for r in (unposted, posted, longer)] == [
        RELEASED,
        "held",
        "held",
    ]
    assert await ledger.reserve(
        three, lead_id="next", price=Decimal("10.00"), at=clock.now(), hold_s=1.0
    )  # the room came back
    assert await ledger.release_expired() == 0  # released once only


async def test_room_to_spare_is_judged_from_counters_this_process_has_seen(
    engine: AsyncEngine,
) -> None:
    """spare(): SPARE_LEADS more leads fit in every window this process has seen; a window it
    has not seen yet (another process may have filled it) has none to spare."""
    spare = ledger_module.SPARE_LEADS
    ten = Decimal("10.00")
    roomy, tight = _capped(spare + 1), _capped(spare)
    budgeted = Campaign.model_validate(
        roomy.model_dump() | {"name": "budgeted", "caps": {"budget": {"daily": "1000.00"}}}
    )
    uncapped = Campaign.model_validate(roomy.model_dump() | {"name": "open", "caps": {}})
    ledger = SqlCapLedger(engine, ManualClock(NOW))
    assert ledger.spare(uncapped, NOW, ten)
    assert not ledger.spare(roomy, NOW, ten)  # not seen yet
    for campaign in (roomy, tight, budgeted):
        held = await ledger.reserve(campaign, lead_id="lead-1", price=ten, at=NOW, hold_s=HOLD_S)
        assert held is not None
    assert ledger.spare(roomy, NOW, ten)  # 1 held, room for 100 more
    assert not ledger.spare(tight, NOW, ten)  # room for 99 more
    assert ledger.spare(budgeted, NOW, Decimal("9.00"))  # 10 + 100 x 9 <= 1000
    assert not ledger.spare(budgeted, NOW, ten)  # 10 + 100 x 10 > 1000
    tomorrow = NOW.replace(day=NOW.day + 1)
    assert not ledger.spare(roomy, tomorrow, ten)  # a new window, not seen


# --- a hold raised to a sale's higher booked price (post_price: answer) -----------------------


def _budgeted(name: str, budget: dict[str, str]) -> Campaign:
    return Campaign.model_validate(
        {
            **CAPPED.model_dump(mode="json", exclude={"caps"}),
            "name": name,
            "caps": {"budget": budget},
        }
    )


async def _window_amounts(engine: AsyncEngine, campaign: str) -> dict[str, tuple[int, Decimal]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(counters.c.period, counters.c.count, counters.c.amount).where(
                counters.c.campaign == campaign
            )
        )
        return {row[0]: (row[1], row[2]) for row in rows}


async def _open_and_kept(engine: AsyncEngine, campaign: str) -> tuple[int, Decimal]:
    """Holds open (held) or kept (confirmed) and their prices: what the counters must equal."""
    async with engine.connect() as conn:
        prices = (
            await conn.scalars(
                select(reservations.c.price).where(
                    reservations.c.campaign == campaign,
                    reservations.c.status.in_(["held", CONFIRMED]),
                )
            )
        ).all()
    return len(prices), sum(prices, Decimal(0))


async def test_a_hold_is_raised_only_while_its_budget_has_room_for_the_difference(
    engine: AsyncEngine,
) -> None:
    # A buyer bids 10.00 and answers its post 500.00 (post_price: answer): a daily budget of
    # 100.00 has no room for the 490.00 more, and nothing moves; an answer of 50.00 fits.
    budgeted = _budgeted("budgeted", {"daily": "100.00"})
    ledger = SqlCapLedger(engine, ManualClock(NOW))
    ((period, window),) = cap_windows(budgeted, NOW)
    key = (budgeted.name, period, window)

    async def hold(lead_id: str, price: str) -> str:
        held = await ledger.reserve(
            budgeted, lead_id=lead_id, price=Decimal(price), at=NOW, hold_s=HOLD_S
        )
        assert held is not None
        return held

    hostile, other = await hold("hostile", "10.00"), await hold("other", "10.00")
    assert not await ledger.raise_hold(
        budgeted, hostile, price=Decimal("10.00"), to=Decimal("500.00")
    )
    assert await _window_amounts(engine, budgeted.name) == {period: (2, Decimal("20.00"))}
    assert await ledger.raise_hold(budgeted, hostile, price=Decimal("10.00"), to=Decimal("50.00"))
    assert await _window_amounts(engine, budgeted.name) == {period: (2, Decimal("60.00"))}
    assert ledger.seen(key) == (2, Decimal("60.00"))  # the in-process view follows
    # A hold no longer open at the price named is not moved (nor raised from a stale price).
    assert not await ledger.raise_hold(
        budgeted, hostile, price=Decimal("10.00"), to=Decimal("20.00")
    )
    with pytest.raises(ValueError, match="a raise goes up"):
        await ledger.raise_hold(budgeted, other, price=Decimal("10.00"), to=Decimal("10.00"))
    # The raised sale settles at its booked price: nothing left to move.
    async with engine.begin() as conn:
        await ledger.settle(conn, sold={hostile: Decimal("50.00")}, released=[])
    assert await _window_amounts(engine, budgeted.name) == {period: (2, Decimal("60.00"))}
    assert await _open_and_kept(engine, budgeted.name) == (2, Decimal("60.00"))
    assert not await ledger.raise_hold(
        budgeted, hostile, price=Decimal("50.00"), to=Decimal("60.00")
    )  # a settled sale is not a hold
    # The budget's edge, to the cent: 60.00 + 40.00 = 100.00 fits, a cent more does not.
    assert not await ledger.raise_hold(budgeted, other, price=Decimal("10.00"), to=Decimal("50.01"))
    assert await ledger.raise_hold(budgeted, other, price=Decimal("10.00"), to=Decimal("50.00"))
    assert (
        await ledger.reserve(budgeted, lead_id="over", price=Decimal("0.01"), at=NOW, hold_s=HOLD_S)
        is None
    )
    async with engine.begin() as conn:
        await ledger.settle(conn, sold={other: Decimal("50.00")}, released=[])
    assert await _window_amounts(engine, budgeted.name) == {period: (2, Decimal("100.00"))}
    assert await _open_and_kept(engine, budgeted.name) == (2, Decimal("100.00"))


async def test_a_raise_is_all_or_nothing_over_the_holds_windows(engine: AsyncEngine) -> None:
    # Room in the daily budget but none in the hourly one: neither window moves.
    both = _budgeted("both", {"hourly": "30.00", "daily": "100.00"})
    ledger = SqlCapLedger(engine, ManualClock(NOW))
    held = await ledger.reserve(both, lead_id="l", price=Decimal("10.00"), at=NOW, hold_s=HOLD_S)
    assert held is not None
    assert not await ledger.raise_hold(both, held, price=Decimal("10.00"), to=Decimal("30.01"))
    counted = {"hourly": (1, Decimal("10.00")), "daily": (1, Decimal("10.00"))}
    assert await _window_amounts(engine, both.name) == counted
    assert await ledger.raise_hold(both, held, price=Decimal("10.00"), to=Decimal("30.00"))
    counted = {"hourly": (1, Decimal("30.00")), "daily": (1, Decimal("30.00"))}
    assert await _window_amounts(engine, both.name) == counted
    # A count cap's window (no budget) follows the price too: counters = holds and sales.
    counting = Campaign.model_validate(
        {**both.model_dump(mode="json"), "name": "counting", "caps": {"daily": 5}}
    )
    held = await ledger.reserve(
        counting, lead_id="c", price=Decimal("10.00"), at=NOW, hold_s=HOLD_S
    )
    assert held is not None
    assert await ledger.raise_hold(counting, held, price=Decimal("10.00"), to=Decimal("900.00"))
    assert await _window_amounts(engine, "counting") == {"daily": (1, Decimal("900.00"))}


@pytest.mark.parametrize(
    "budget",
    [{"daily": "100.00"}, {"hourly": "100.00", "daily": "100.00", "weekly": "1000.00"}],
    ids=["one-window", "three-windows"],
)
async def test_holds_raised_at_once_never_take_a_budget_past_its_limit(
    engine: AsyncEngine, budget: dict[str, str]
) -> None:
    # Eight 10.00 holds (80.00 of 100.00), raised to 15.00 at once from two processes while
    # more leads take holds: whatever order they land in, no window passes its budget, and
    # every window counts exactly the open holds at their prices.
    budgeted = _budgeted("raced", budget)
    here, there = SqlCapLedger(engine, ManualClock(NOW)), SqlCapLedger(engine, ManualClock(NOW))
    holds = []
    for i in range(8):
        held = await here.reserve(
            budgeted, lead_id=f"held-{i}", price=Decimal("10.00"), at=NOW, hold_s=HOLD_S
        )
        assert held is not None
        holds.append(held)

    async def raise_one(i: int, held: str) -> bool:
        ledger = here if i % 2 else there
        return await ledger.raise_hold(budgeted, held, price=Decimal("10.00"), to=Decimal("15.00"))

    async def newcomer(i: int) -> str | None:
        return await there.reserve(
            budgeted, lead_id=f"new-{i}", price=Decimal("5.00"), at=NOW, hold_s=HOLD_S
        )

    outcomes = await asyncio.gather(
        *(raise_one(i, h) for i, h in enumerate(holds)), *(newcomer(i) for i in range(3))
    )
    raised = sum(1 for granted in outcomes[:8] if granted)
    newcomers = sum(1 for held in outcomes[8:] if held is not None)
    assert 5 * raised + 5 * newcomers <= 20  # the room the eight holds left, and no more
    assert 5 * raised + 5 * newcomers == 20  # ... all of it taken (5.00 steps fit exactly)
    count, amount = await _open_and_kept(engine, budgeted.name)
    assert (count, amount) == (8 + newcomers, Decimal("100.00"))
    windows = await _window_amounts(engine, budgeted.name)
    assert set(windows.values()) == {(count, amount)}, windows
    async with engine.begin() as conn:  # the raised holds sell at their raised price
        await here.settle(
            conn,
            sold={
                h: Decimal("15.00") if ok else Decimal("10.00")
                for h, ok in zip(holds, outcomes[:8], strict=True)
            },
            released=[],
        )
    assert set((await _window_amounts(engine, budgeted.name)).values()) == {(count, amount)}
