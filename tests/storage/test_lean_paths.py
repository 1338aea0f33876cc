"""The engine's lean paths: statements compiled once, inline SQLite transactions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, update

from pingtree.screening.repository import _claim_purchase_statement, _claim_statement
from pingtree.storage.db import create_engine
from pingtree.storage.sqlite_inline import InlineEngine

counters = Table("t", MetaData(), Column("id", String, primary_key=True), Column("n", Integer))


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("count", [1, 3])
def test_the_claim_statements_have_a_cache_key(dialect: str, count: int) -> None:
    # Without one, SQLAlchemy compiles the statement again on every execution.
    for build in (_claim_statement, _claim_purchase_statement):
        assert build(dialect, count)._generate_cache_key() is not None


async def test_an_inline_transaction_commits_rolls_back_and_gives_the_connection_back(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'lean.db'}")
    assert isinstance(engine, InlineEngine)
    pool = engine.sync_engine.pool
    try:
        async with engine.begin() as conn:
            await conn.run_sync(counters.metadata.create_all)
            await conn.execute(counters.insert(), {"id": "a", "n": 0})
        bump = update(counters).values(n=counters.c.n + 1)
        with pytest.raises(KeyError):
            async with engine.begin() as conn:
                await conn.execute(bump)
                raise KeyError("rolled back")
        async with engine.begin() as conn:
            await conn.execute(bump)

        async def cancelled() -> None:
            async with engine.begin() as conn:
                await conn.execute(bump)
                await asyncio.sleep(10)

        task = asyncio.ensure_future(cancelled())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with engine.connect() as conn:
            assert await conn.scalar(select(counters.c.n)) == 1
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
