"""The database pool per process is bounded by Settings: size, overflow, wait."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from pingtree.runtime import Runtime
from pingtree.settings import Settings
from pingtree.storage.db import connection_room, connections_warning, create_engine


async def test_a_process_opens_at_most_pool_size_plus_overflow_connections(
    database_url: str,
) -> None:
    settings = Settings(
        database_url=database_url, db_pool_size=2, db_max_overflow=1, db_pool_timeout_s=5
    )
    rt = Runtime(settings)
    is_pg = rt.engine.dialect.name == "postgresql"
    who = "SELECT pg_backend_pid()" if is_pg else "SELECT 1"
    seen: set[int] = set()
    busy = 0
    most = 0

    async def query() -> None:
        nonlocal busy, most
        async with rt.engine.connect() as conn:
            busy += 1
            most = max(most, busy)
            seen.add(int(await conn.scalar(text(who))))
            await asyncio.sleep(0.1)
            busy -= 1

    try:
        await asyncio.gather(*(query() for _ in range(12)))
    finally:
        await rt.engine.dispose()
    # SQLite: one connection per process whatever the settings (one writer at a time).
    assert most == (3 if is_pg else 1)
    if is_pg:
        assert len(seen) <= 3


async def test_a_request_waits_pool_timeout_for_a_connection_then_fails(
    database_url: str,
) -> None:
    settings = Settings(
        database_url=database_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=0.2
    )
    rt = Runtime(settings)
    try:
        async with rt.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(PoolTimeout):
                async with rt.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
    finally:
        await rt.engine.dispose()


def test_recovery_never_settles_a_lead_whose_record_is_still_retried() -> None:
    with pytest.raises(ValueError, match="interrupted_after_s"):
        Settings(record_retry_s=60, interrupted_after_s=30)


async def test_the_room_postgresql_gives_is_read_from_its_settings(database_url: str) -> None:
    room = await connection_room(database_url)
    if not database_url.startswith("postgresql"):
        assert room is None  # SQLite: one connection, nothing to size
        return
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            most = int(await conn.scalar(text("SHOW max_connections")))
            reserved = int(await conn.scalar(text("SHOW superuser_reserved_connections")))
    finally:
        await engine.dispose()
    assert room == most - reserved


def test_workers_that_may_open_more_connections_than_postgresql_takes_are_warned_of() -> None:
    assert connections_warning(3, pool_size=20, max_overflow=10, room=97) is None  # 90 fit
    warning = connections_warning(4, pool_size=20, max_overflow=10, room=97)
    assert warning is not None
    assert "4 worker(s) x 30 connections" in warning
    assert "= 120, more than the 97" in warning
    assert "PINGTREE_DB_POOL_SIZE 20" in warning and "PgBouncer" in warning
    assert connections_warning(50, pool_size=20, max_overflow=10, room=None) is None  # SQLite


async def test_serve_says_at_start_when_its_workers_may_open_more_than_postgresql_takes(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pingtree import cli

    settings = Settings(database_url=database_url, db_pool_size=200, db_max_overflow=0)
    await asyncio.to_thread(cli._warn_if_connections_exceed, settings, 1)
    said = capsys.readouterr().err
    if database_url.startswith("postgresql"):
        assert said.startswith("warning: 1 worker(s) x 200 connections")
    else:
        assert said == ""
    fits = Settings(database_url=database_url, db_pool_size=2, db_max_overflow=1)
    await asyncio.to_thread(cli._warn_if_connections_exceed, fits, 2)
    assert capsys.readouterr().err == ""
