"""A buyer's live calls at once: exact under concurrency, from two processes, on both
databases; a line is given back once however often its call ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.calls import repository
from pingtree.calls.lines import CallLines
from pingtree.storage.db import create_engine
from tests.calls.conftest import call_row

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    one, two = create_engine(database_url), create_engine(database_url)
    yield one, two
    await one.dispose()
    await two.dispose()


async def _calls(engine: AsyncEngine, count: int) -> list[str]:
    ids = [f"CA{i:04d}" for i in range(count)]
    async with engine.begin() as conn:
        for call_id in ids:
            await repository.open_call(conn, call_row(call_id, started_at=NOW))
    return ids


async def test_three_agents_take_three_calls_of_twenty_at_once_across_processes(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    ids = await _calls(engines[0], 20)
    here, there = CallLines(engines[0]), CallLines(engines[1])
    taken = await asyncio.gather(
        *(
            (here if i % 2 else there).take("acme", call_id=call_id, limit=3)
            for i, call_id in enumerate(ids)
        )
    )
    assert sum(taken) == 3
    assert await here.live("acme") == 3
    winners = [call_id for call_id, won in zip(ids, taken, strict=True) if won]
    losers = [call_id for call_id, won in zip(ids, taken, strict=True) if not won]
    # A call refused a line holds none: giving it back frees nothing.
    assert await here.give_back(losers[0]) is None
    assert await here.live("acme") == 3
    # A call's line is given back once, however many webhooks say it ended.
    freed = await asyncio.gather(here.give_back(winners[0]), there.give_back(winners[0]))
    assert sorted(map(str, freed)) == ["None", "acme"]
    assert await there.live("acme") == 2
    assert await there.take("acme", call_id=losers[0], limit=3) is True
    assert await there.take("acme", call_id=losers[1], limit=3) is False
    assert await here.live("acme") == 3


async def test_a_call_holds_one_line_at_a_time(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    (call_id,) = await _calls(engines[0], 1)
    lines = CallLines(engines[0])
    assert await lines.take("acme", call_id=call_id, limit=5) is True
    assert await lines.take("beta", call_id=call_id, limit=5) is False
    assert await lines.live("beta") == 0  # rolled back with the refusal
    assert await lines.give_back(call_id) == "acme"
    assert await lines.take("beta", call_id=call_id, limit=5) is True
