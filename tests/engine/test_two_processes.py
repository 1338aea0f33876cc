"""Two engines on one PostgreSQL and one Redis, as two server processes are: caps, dedup,
idempotency keys, rate limits and even rotation are exact across them.

Each engine has its own runtime (cap view, rotation, pools, router): only the database and
Redis are shared. `tests/engine/test_two_servers.py` runs the same over two real server processes.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from sqlalchemy import func, select, text

from pingtree.storage.db import create_engine
from pingtree.storage.tables import Base, Lead, Sale
from tests.conftest import REDIS_ENV
from tests.engine.conftest import Harness, _harness, sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, campaign, document, tier

NO_CHECKS: dict[str, Any] = {"checks": [], "dedup": {"window_hours": 24}}


@pytest.fixture
async def shared_url(postgres_schema_url: str | None) -> AsyncIterator[str]:
    """The PostgreSQL test schema, emptied afterwards (several processes need PostgreSQL)."""
    if postgres_schema_url is None:
        pytest.skip("PINGTREE_TEST_POSTGRES_URL not set (never skipped in CI)")
    yield postgres_schema_url
    engine = create_engine(postgres_schema_url)
    async with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names}"))
    await engine.dispose()


@pytest.fixture
def shared_redis() -> AsyncIterator[dict[str, str]]:
    """The test Redis with a key prefix of this test's own (deleted afterwards)."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        if os.environ.get("CI"):
            raise RuntimeError(f"{REDIS_ENV} must be set in CI: Redis is never skipped there")
        pytest.skip(f"{REDIS_ENV} not set (never skipped in CI)")
    prefix = f"pt-test-{uuid.uuid4().hex[:12]}"
    yield {"redis_url": url, "ratelimit_prefix": prefix}
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
async def two(shared_url: str, shared_redis: dict[str, str]) -> AsyncIterator[list[Harness]]:
    """Two engines sharing the database and Redis; configure through two[0], then sync()."""
    runs = [_harness(shared_url, **shared_redis) for _ in range(2)]
    engines = [await anext(run) for run in runs]
    try:
        yield engines
    finally:
        for run in runs:
            await anext(run, None)


async def _configure(two: list[Harness], *args: Any, **kwargs: Any) -> None:
    """Apply one configuration through the first engine; the second loads it (as a worker
    does on its next poll)."""
    await two[0].configure(document(*args, **kwargs))
    await two[1].rt.reload_config()


async def _count(h: Harness, model: Any, **where: Any) -> int:
    async with h.rt.sessions() as session:
        stmt = select(func.count()).select_from(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return int(await session.scalar(stmt) or 0)


async def _first_sale(h: Harness) -> str:
    answer = await h.post_lead()
    assert answer.status_code == 200 and answer.json()["status"] == "sold", answer.text
    lead_id = answer.json()["lead_id"]
    async with h.rt.sessions() as session:
        sold: str = await session.scalar(select(Sale.campaign).where(Sale.lead_id == lead_id))
    return sold


async def test_an_even_tier_rotates_once_over_both_processes(two: list[Harness]) -> None:
    a, b = two
    a.buyers(*(sim_buyer(n) for n in ("e1", "e2", "e3")))
    await _configure(
        two,
        [campaign(n, a.sim) for n in ("e1", "e2", "e3")],
        [tier("t", "even", ["e1", "e2", "e3"])],
    )
    # Leads come to the processes unevenly; each campaign still gets every third lead. With
    # a rotation per process, b's first lead would go to e1 again.
    takers = [a, a, b, a, b, b, b, a, a]
    sold = [await _first_sale(h) for h in takers]
    assert sold == ["e1", "e2", "e3"] * 3


async def test_price_ties_take_turns_across_both_processes(two: list[Harness]) -> None:
    a, b = two
    a.buyers(sim_buyer("p1"), sim_buyer("p2"))
    await _configure(
        two,
        [campaign(n, a.sim, price="20.00") for n in ("p1", "p2")],
        [tier("t", "price", ["p1", "p2"])],
    )
    sold = [await _first_sale(h) for h in (a, a, b, b, a, b)]
    assert sold == ["p1", "p2"] * 3


async def test_a_cap_sells_exactly_its_count_across_both_processes(two: list[Harness]) -> None:
    a = two[0]
    a.buyers(sim_buyer("capped", latency_ms_min=5, latency_ms_max=20), sim_buyer("overflow"))
    await _configure(
        two,
        [
            campaign("capped", a.sim, price="20.00", caps={"daily": 10}),
            campaign("overflow", a.sim, price="1.00"),
        ],
        [tier("t1", "priority", ["capped"]), tier("t2", "priority", ["overflow"])],
        tree={"max_processing_ms": 120_000},  # exactness apart from the deadline
    )
    answers = await asyncio.gather(*(h.post_lead() for _ in range(40) for h in two))
    assert [x.json()["status"] for x in answers].count("sold") == 80
    assert await _count(a, Sale, campaign="capped") == 10
    assert await _count(a, Sale, campaign="overflow") == 70
    assert len(a.sim.received("capped")) == 10  # never even posted an 11th


async def test_room_another_process_gave_back_is_sold_not_refused(two: list[Harness]) -> None:
    a, b = two
    a.buyers(sim_buyer("capped"), sim_buyer("overflow"))
    await _configure(
        two,
        [
            campaign("capped", a.sim, price="20.00", caps={"daily": 1}),
            campaign("overflow", a.sim, price="1.00"),
        ],
        [tier("t1", "priority", ["capped"]), tier("t2", "priority", ["overflow"])],
    )
    capped = b.rt.catalog.campaign("capped")
    held = await b.rt.ledger.reserve(
        capped, lead_id="held-by-b", price=Decimal("20.00"), at=b.rt.clock.now(), hold_s=30
    )
    assert held is not None
    assert await _first_sale(a) == "overflow"  # the room is b's: a sees the cap full
    await b.rt.ledger.release(held)  # b's post will not happen: the room is free again
    assert await _first_sale(a) == "capped"  # a's view said full; the database says room
    assert await _first_sale(b) == "overflow"  # and now it is full, for both


async def test_the_same_person_sent_to_both_processes_goes_through_once(
    two: list[Harness],
) -> None:
    a = two[0]
    a.buyers(sim_buyer("taker"))
    await _configure(
        two, [campaign("taker", a.sim)], [tier("t", "priority", ["taker"])], screening=NO_CHECKS
    )
    answers = await asyncio.gather(*(h.post_lead() for _ in range(15) for h in two))
    statuses = [x.json()["status"] for x in answers]
    why = [
        (x.status_code, x.json()["status"], [r["code"] for r in x.json()["reasons"]])
        for x in answers
    ]
    assert statuses.count("sold") == 1 and statuses.count("rejected") == 29, why
    assert len(a.sim.received("taker")) == 1
    assert await _count(a, Lead) == 30  # every copy kept


async def test_one_idempotency_key_sent_to_both_processes_sells_once(
    two: list[Harness],
) -> None:
    a = two[0]
    a.buyers(sim_buyer("taker", latency_ms_min=20, latency_ms_max=40))
    await _configure(two, [campaign("taker", a.sim)], [tier("t", "priority", ["taker"])])
    key = {"Idempotency-Key": "order-7"}
    answers = await asyncio.gather(*(h.post_lead(headers=key) for _ in range(5) for h in two))
    assert {x.status_code for x in answers} == {200}
    assert len({x.json()["lead_id"] for x in answers}) == 1
    assert {x.json()["status"] for x in answers} == {"sold"}
    assert len(a.sim.received("taker")) == 1
    assert await _count(a, Lead) == 1 and await _count(a, Sale) == 1


async def test_a_publisher_rate_limit_counts_both_processes(two: list[Harness]) -> None:
    a, b = two
    a.buyers(sim_buyer("taker"))
    data = document([campaign("taker", a.sim)], [tier("t", "priority", ["taker"])])
    raw = data.model_dump(mode="json", exclude_none=True)
    raw["publishers"][0]["rate_limit"] = "6/hour"
    await a.configure(type(data).model_validate(raw))
    await b.rt.reload_config()
    body = {"vertical": "auto", "fields": LEAD_FIELDS}

    async def post(h: Harness) -> int:
        r = await h.client.post("/api/v1/leads", json=body, headers={"X-API-Key": API_KEY})
        return r.status_code

    codes = await asyncio.gather(*(post(h) for _ in range(10) for h in two))
    assert sorted(codes) == [200] * 6 + [429] * 14
    assert await _count(a, Lead) == 6
