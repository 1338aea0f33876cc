"""Dedup windows include their first moment: a person seen exactly one window ago is still
a duplicate, a moment later not. Same-person claims and buyer purchases, on SQLite and
PostgreSQL; the buyer block read from purchases is pure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.buyers.model import Buyer
from pingtree.screening import repository
from pingtree.screening.purchases import SqlBuyerPurchases
from pingtree.screening.service import _blocks
from pingtree.storage.db import create_engine

THEN = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)
SECOND = timedelta(seconds=1)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _person(engine: AsyncEngine, lead_id: str, now: datetime) -> str | None:
    async with engine.begin() as conn:
        return await repository.claim_person(
            conn, vertical="auto", hashes=["h1"], lead_id=lead_id, now=now, window=WINDOW
        )


async def _purchase(engine: AsyncEngine, lead_id: str, now: datetime) -> str | None:
    async with engine.begin() as conn:
        return await repository.claim_purchase(
            conn, buyer="alpha", hashes=["h1"], lead_id=lead_id, now=now, window=WINDOW
        )


async def test_a_person_seen_exactly_one_window_ago_is_still_a_duplicate(
    engine: AsyncEngine,
) -> None:
    assert await _person(engine, "first", THEN) is None
    assert await _person(engine, "edge", THEN + WINDOW) == "first"
    assert await _person(engine, "after", THEN + WINDOW + SECOND) is None


async def test_a_buyer_that_bought_exactly_one_window_ago_still_holds_the_person(
    engine: AsyncEngine,
) -> None:
    assert await _purchase(engine, "first", THEN) is None
    assert await _purchase(engine, "edge", THEN + WINDOW) == "first"
    assert await _purchase(engine, "after", THEN + WINDOW + SECOND) is None


def test_a_buyer_is_blocked_from_the_first_moment_of_its_window_to_its_end() -> None:
    buyers = {"alpha": Buyer(name="alpha", dedup_days=30), "beta": Buyer(name="beta", dedup_days=0)}
    now = THEN + WINDOW
    assert set(_blocks([], {"alpha": THEN}, buyers, now)) == {"alpha"}
    assert _blocks([], {"alpha": THEN - SECOND}, buyers, now) == {}
    # A buyer without a window takes the person again.
    assert _blocks([], {"beta": now}, buyers, now) == {}


def test_only_a_buyers_own_list_or_its_window_blocks_it() -> None:
    buyers = {"alpha": Buyer(name="alpha", dedup_days=30)}
    lists = [("buyer", "alpha"), ("publisher", "pub"), ("global", "")]
    blocked = _blocks(lists, {}, buyers, THEN)
    assert blocked == {"alpha": "suppressed: on the buyer's do-not-contact list"}
    # A purchase by a buyer no longer configured blocks nothing.
    assert _blocks([], {"gone": THEN}, buyers, THEN) == {}
    assert _blocks([], {"alpha": THEN}, buyers, THEN) == {
        "alpha": "duplicate: bought this person 2026-11-01 (window 30 days)"
    }


async def test_a_buyers_claim_holds_the_person_for_its_window_of_days(engine: AsyncEngine) -> None:
    purchases = SqlBuyerPurchases(engine)

    async def claim(
        lead_id: str, at: datetime, people: list[str], buyer: str = "alpha"
    ) -> str | None:
        return await purchases.claim(buyer=buyer, days=30, people=people, lead_id=lead_id, at=at)

    assert await claim("first", THEN, ["h1", "h2"]) is None
    assert await claim("edge", THEN + WINDOW, ["h2"]) == "first"
    assert await claim("other_buyer", THEN + WINDOW, ["h2"], buyer="beta") is None
    assert await claim("after", THEN + WINDOW + SECOND, ["h2"]) is None


async def test_a_claim_turned_down_for_one_hash_claims_none_of_the_others(
    engine: AsyncEngine,
) -> None:
    purchases = SqlBuyerPurchases(engine)
    held = {"buyer": "alpha", "days": 30, "at": THEN}
    assert await purchases.claim(people=["h1"], lead_id="first", **held) is None
    assert await purchases.claim(people=["h1", "h9"], lead_id="second", **held) == "first"
    # h9 stayed free: the second lead's partial claim left no trace.
    assert await purchases.claim(people=["h9"], lead_id="third", **held) is None


async def test_a_duplicate_names_the_lead_that_holds_this_person_here(
    engine: AsyncEngine,
) -> None:
    # Other people in the vertical, and this person in another vertical (or bought by
    # another buyer), were seen first: the holder named is the one of this person here.
    async def person(vertical: str, person_hash: str, lead_id: str) -> str | None:
        async with engine.begin() as conn:
            return await repository.claim_person(
                conn,
                vertical=vertical,
                hashes=[person_hash],
                lead_id=lead_id,
                now=THEN,
                window=WINDOW,
            )

    async def purchase(buyer: str, person_hash: str, lead_id: str) -> str | None:
        async with engine.begin() as conn:
            return await repository.claim_purchase(
                conn, buyer=buyer, hashes=[person_hash], lead_id=lead_id, now=THEN, window=WINDOW
            )

    # (names sort before this person's and this buyer's, so an index read in key order
    # would come to them first)
    assert await person("auto", "a-someone-else", "other-person") is None
    assert await person("home", "h1", "other-vertical") is None
    assert await person("auto", "h1", "holder") is None
    assert await person("auto", "h1", "copy") == "holder"
    assert await purchase("alpha", "a-someone-else", "other-person") is None
    assert await purchase("aardvark", "h1", "other-buyer") is None
    assert await purchase("alpha", "h1", "bought") is None
    assert await purchase("alpha", "h1", "copy") == "bought"
