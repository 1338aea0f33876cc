"""PostgreSQL connections are pinged before use only after sitting idle: a lead's
transactions skip the round trip, a connection that died while idle is replaced unseen."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.storage import db
from pingtree.storage.db import create_engine


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        pid = await conn.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def _kill(url: str, pid: int) -> None:
    other = create_engine(url)
    try:
        async with other.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_connection_that_died_while_idle_is_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # every reuse counts as idle
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        first = await _backend(engine)
        await _kill(database_url, first)
        assert await _backend(engine) != first  # pinged, found dead, reconnected
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_connection_in_steady_use_is_not_pinged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        first = await _backend(engine)
        await _kill(database_url, first)
        # Not pinged: the statement finds the connection dead, and says so
        with pytest.raises(DBAPIError) as lost:
            await _backend(engine)
        assert lost.value.connection_invalidated
        assert await _backend(engine) != first  # the next one gets a new connection
    finally:
        await engine.dispose()
