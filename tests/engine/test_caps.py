"""Caps are exact under concurrency, on SQLite and PostgreSQL; money is exact to the cent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from pingtree.storage.tables import BuyerPurchase, CapCounter, CapReservation, Sale
from tests.engine.conftest import Harness, _harness, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier


async def _sales(h: Harness, name: str) -> int:
    async with h.rt.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Sale).where(Sale.campaign == name)
            )
            or 0
        )


@pytest.fixture
async def patient_engine(database_url: str) -> AsyncIterator[Harness]:
    """An engine whose leads wait as long as it takes for a database connection: 200 leads
    at once on a loaded machine can queue for PostgreSQL's pool longer than the default
    10 s, and this file is about exact caps, not about the pool."""
    async for harness in _harness(database_url, db_pool_timeout_s=120):
        yield harness


async def test_200_concurrent_leads_against_cap_10_sell_exactly_10(
    patient_engine: Harness,
) -> None:
    engine = patient_engine
    engine.buyers(sim_buyer("capped", latency_ms_min=5, latency_ms_max=20), sim_buyer("overflow"))
    await engine.configure(
        document(
            [
                campaign(
                    "capped", engine.sim, price="20.00", caps={"daily": 10}, timeout_ms=60_000
                ),
                campaign("overflow", engine.sim, price="1.00", timeout_ms=60_000),
            ],
            [tier("t1", "priority", ["capped"]), tier("t2", "priority", ["overflow"])],
            # Cap exactness apart from the deadline: a busy machine must not time leads out
            # (the tree's time, each post's timeout, the wait for a pooled connection).
            tree={"max_processing_ms": 120_000},
        )
    )
    answers = await asyncio.gather(*(engine.post_lead() for _ in range(200)))
    assert all(a.status_code == 200 for a in answers), [
        a.text for a in answers if a.status_code != 200
    ][:3]
    statuses = [a.json()["status"] for a in answers]
    assert statuses.count("sold") == 200  # nothing lost: the rest cascade to overflow
    assert await _sales(engine, "capped") == 10
    assert await _sales(engine, "overflow") == 190
    assert len(engine.sim.received("capped")) == 10  # never even posted an 11th
    async with engine.rt.sessions() as session:
        counter = await session.scalar(select(CapCounter).where(CapCounter.campaign == "capped"))
    assert counter is not None and counter.count == 10
    assert counter.amount == Decimal("200.00")


async def test_budget_cap_in_money(engine: Harness) -> None:
    engine.buyers(sim_buyer("spender"), sim_buyer("overflow"))
    await engine.configure(
        document(
            [
                campaign(
                    "spender",
                    engine.sim,
                    price="12.50",
                    caps={"budget": {"daily": "50.00"}},
                    timeout_ms=30_000,
                ),
                campaign("overflow", engine.sim, price="1.00"),
            ],
            [tier("t1", "priority", ["spender", "overflow"])],
            # Money exactness apart from the deadline: on a loaded machine a hold or post
            # that runs out of time gives its room back and the lead cascades (an undersale).
            tree={"max_processing_ms": 60_000},
        )
    )
    answers = await asyncio.gather(*(engine.post_lead() for _ in range(12)))
    assert [a.json()["status"] for a in answers].count("sold") == 12
    assert await _sales(engine, "spender") == 4  # 4 x 12.50 = 50.00 exactly; a 5th would exceed


async def test_concurrent_answers_above_the_bid_never_take_a_budget_past_its_limit(
    patient_engine: Harness,
) -> None:
    # 30 leads at once to a buyer that bids 10.00 and answers each post 35.00, booked at the
    # answer (post_price: answer) within a daily budget of 100.00: however the holds and
    # raises interleave (holds taken at the bid may fill the budget before any post is
    # answered: every raise is refused then), neither window passes 100.00, and each counts
    # exactly the sales as booked.
    engine = patient_engine
    engine.buyers(
        sim_buyer(
            "greedy",
            bid_min=Decimal("10"),
            bid_max=Decimal("10"),
            post_price="35.00",
            latency_ms_min=5,
            latency_ms_max=20,
        ),
        sim_buyer("overflow"),
    )
    greedy = campaign(
        "greedy",
        engine.sim,
        bid=True,
        caps={"budget": {"daily": "100.00", "hourly": "100.00"}},
        timeout_ms=60_000,
    )
    greedy["price"]["post_price"] = "answer"
    await engine.configure(
        document(
            [greedy, campaign("overflow", engine.sim, price="1.00", timeout_ms=60_000)],
            [tier("t1", "ping_post", ["greedy"]), tier("t2", "priority", ["overflow"])],
            tree={"max_processing_ms": 120_000},
        )
    )
    answers = await asyncio.gather(*(engine.post_lead() for _ in range(30)))
    assert [a.json()["status"] for a in answers].count("sold") == 30
    async with engine.rt.sessions() as session:
        booked = (await session.scalars(select(Sale.price).where(Sale.campaign == "greedy"))).all()
        windows = (
            await session.execute(
                select(CapCounter.count, CapCounter.amount).where(CapCounter.campaign == "greedy")
            )
        ).all()
    assert set(booked) <= {Decimal("35.00"), Decimal("10.00")}
    assert sum(booked) <= Decimal("100.00")
    assert sorted(tuple(w) for w in windows) == [(len(booked), sum(booked))] * 2


async def test_rejected_post_releases_its_reservation(engine: Harness) -> None:
    engine.buyers(sim_buyer("picky", accept_rate=0.0), sim_buyer("overflow"))
    await engine.configure(
        document(
            [
                campaign("picky", engine.sim, price="5.00", caps={"daily": 1}),
                campaign("overflow", engine.sim, price="1.00"),
            ],
            [tier("t1", "priority", ["picky", "overflow"])],
        )
    )
    for _ in range(3):
        assert (await engine.post_lead()).json()["status"] == "sold"
    # Each lead was offered to picky: the cap of 1 was never used up by rejections.
    assert len(engine.sim.received("picky")) == 3
    async with engine.rt.sessions() as session:
        counter = await session.scalar(select(CapCounter).where(CapCounter.campaign == "picky"))
        held_rows = (
            await session.scalars(
                select(CapReservation.status).where(CapReservation.campaign == "picky")
            )
        ).all()
    assert counter is not None and counter.count == 0 and counter.amount == Decimal("0.00")
    # Every post is journaled by its hold (a row); each was given back with the record.
    assert held_rows == ["released"] * 3


async def test_timed_out_post_releases_its_reservation(engine: Harness) -> None:
    engine.buyers(sim_buyer("slow", hang_rate=1.0), sim_buyer("overflow"))
    await engine.configure(
        document(
            [
                campaign("slow", engine.sim, price="5.00", caps={"daily": 1}, timeout_ms=200),
                campaign("overflow", engine.sim, price="1.00"),
            ],
            [tier("t1", "priority", ["slow", "overflow"])],
        )
    )
    answer = (await engine.post_lead()).json()
    assert answer["status"] == "sold"
    story = await engine.timeline(answer["lead_id"])
    assert [(a["campaign"], a["outcome"]) for a in story["attempts"]] == [
        ("slow", "timeout"),
        ("overflow", "accepted"),
    ]
    async with engine.rt.sessions() as session:
        counter = await session.scalar(select(CapCounter).where(CapCounter.campaign == "slow"))
    assert counter is not None and counter.count == 0


async def test_test_leads_count_in_no_cap_or_sale(engine: Harness) -> None:
    engine.buyers(sim_buyer("capped"))
    await engine.configure(
        document(
            [campaign("capped", engine.sim, price="20.00", caps={"daily": 1})],
            [tier("t1", "priority", ["capped"])],
        )
    )
    for _ in range(3):
        answer = (await engine.post_lead(test=True)).json()
        assert answer["status"] == "sold" and answer["test"] is True
    received = engine.sim.received("capped")
    assert len(received) == 3
    assert all(r.header("X-Pingtree-Test") == "1" for r in received)
    # The real lead still finds the whole cap free.
    assert (await engine.post_lead()).json()["status"] == "sold"
    async with engine.rt.sessions() as session:
        real_sales = await session.scalar(
            select(func.count()).select_from(Sale).where(Sale.test.is_(False))
        )
        counter = await session.scalar(select(CapCounter).where(CapCounter.campaign == "capped"))
    assert real_sales == 1
    assert counter is not None and counter.count == 1


async def test_concurrent_leads_giving_back_room_in_different_orders_never_fail(
    engine: Harness,
) -> None:
    # An even tier offers each lead the campaigns in a rotated order; every offer but the
    # last is rejected, so leads give back several holds each, in different orders.
    names = ["r1", "r2", "r3", "r4"]
    engine.buyers(*(sim_buyer(n, accept_rate=0.0) for n in names), sim_buyer("taker"))
    await engine.configure(
        document(
            [campaign(n, engine.sim, caps={"daily": 1000}, timeout_ms=60_000) for n in names]
            + [campaign("taker", engine.sim, timeout_ms=60_000)],
            [tier("t1", "even", names), tier("t2", "priority", ["taker"])],
            tree={"max_processing_ms": 120_000},  # apart from the deadline, as above
        )
    )
    answers = await asyncio.gather(*(engine.post_lead() for _ in range(40)))
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["status"] for a in answers} == {"sold"}
    async with engine.rt.sessions() as session:
        counts = (await session.scalars(select(CapCounter.count))).all()
    assert list(counts) == [0, 0, 0, 0]
    async with engine.rt.sessions() as session:
        open_holds = await session.scalar(
            select(func.count())
            .select_from(CapReservation)
            .where(CapReservation.status.in_(["held", "uncertain"]))
        )
    assert open_holds == 0


@pytest.mark.parametrize("dedup_days", [0, 30])
async def test_a_hold_taken_ahead_and_not_used_is_released_with_the_record(
    engine: Harness, dedup_days: int
) -> None:
    """While a lead's second post is out, the next offer's hold is taken (its campaign has
    room to spare), with the buyer's claim on the person; the lead sells to the second, and
    the hold and the claim taken ahead are given back when the lead is recorded."""
    engine.buyers(sim_buyer("r", accept_rate=0.0), sim_buyer("a"), sim_buyer("b"))
    await engine.configure(
        document(
            [campaign(n, engine.sim, caps={"daily": 1000}) for n in ("r", "a", "b")],
            [tier("t1", "even", ["r", "a", "b"])],
            buyer_dedup_days=dedup_days,
        )
    )
    # Offered r a b, a b r, b r a, r a b, ...: the fourth lead is the first whose second post
    # is out when the next campaign's window has been seen (b's, by the third lead's sale).
    for i in range(6):
        person = {"email": f"person{i}@example.com", "phone": f"(212) 736-500{i}"}
        answer = await engine.post_lead(LEAD_FIELDS | person)
        assert answer.json()["status"] == "sold"
    async with engine.rt.sessions() as session:
        counts = dict((await session.execute(select(CapCounter.campaign, CapCounter.count))).all())
        rows = (
            await session.execute(
                select(CapReservation.campaign, CapReservation.status, func.count()).group_by(
                    CapReservation.campaign, CapReservation.status
                )
            )
        ).all()
        sold = set((await session.execute(select(Sale.buyer, Sale.lead_id))).all())
        claims = set(
            (await session.execute(select(BuyerPurchase.buyer, BuyerPurchase.lead_id))).all()
        )
    assert counts == {"r": 0, "a": 4, "b": 2}
    assert sorted(tuple(row) for row in rows) == [
        ("a", "confirmed", 4),
        ("b", "confirmed", 2),
        ("b", "released", 1),  # held ahead while the fourth lead was posted to a
        ("r", "released", 2),
    ]
    assert len(sold) == 6
    assert claims == sold  # a purchase for each sale; no claim taken ahead is kept
