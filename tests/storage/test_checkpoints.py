"""SQLite's log is checkpointed by a thread beside the serving engine, never by a commit."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.runtime import Runtime
from pingtree.settings import Settings
from pingtree.storage.checkpoints import checkpoint
from pingtree.storage.db import create_engine, sqlite_file

WRITES = 1500  # one small transaction each: a log page or more apiece


async def _write(engine: AsyncEngine, count: int, *, pause_every: int = 0) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS scratch (id INTEGER PRIMARY KEY, v)"))
    for i in range(count):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO scratch (v) VALUES (:v)"), {"v": "x" * 200})
        if pause_every and i % pause_every == 0:
            await asyncio.sleep(0.005)  # leave the checkpointing thread its turns


async def test_a_serving_engine_leaves_every_page_in_the_log_for_the_checkpointer(
    sqlite_url: str,
) -> None:
    path = sqlite_file(sqlite_url)
    assert path is not None
    apart = create_engine(sqlite_url, checkpoints_apart=True)
    try:
        await _write(apart, WRITES)
        done = await asyncio.to_thread(checkpoint, path)
    finally:
        await apart.dispose()
    assert done.logged >= WRITES  # no commit checkpointed (SQLite's own would at 1,000 pages)
    assert (done.busy, done.copied) == (False, done.logged)  # and the thread copied them all
    assert not done.restarted  # a short log is left to be reused once copied


async def test_a_long_log_starts_over_even_while_a_writer_keeps_writing(sqlite_url: str) -> None:
    """Past RESTART_AT_PAGES the thread waits for the writer's transaction and restarts the
    log: a PASSIVE checkpoint alone never finishes under steady writes."""
    path = sqlite_file(sqlite_url)
    assert path is not None
    apart = create_engine(sqlite_url, checkpoints_apart=True)
    try:
        await _write(apart, WRITES)
        checkpointing = asyncio.create_task(asyncio.to_thread(checkpoint, path, 100))
        await _write(apart, 200, pause_every=1)  # writes go on while it runs
        done = await checkpointing
        after = await asyncio.to_thread(checkpoint, path, 10**9)
    finally:
        await apart.dispose()
    # The RESTART ran and copied all the log held then. That may be the whole log, or only
    # the writer's last few pages: when the PASSIVE pass copied everything while the writer
    # paused, the writer's next transaction started the log over by itself (a CI run saw
    # logged=3). Either way the log started over:
    assert done.restarted and done.copied == done.logged
    assert after.logged <= 250  # it holds the writes since, at most, not the 1,700 before


async def test_a_command_engine_keeps_sqlites_own_checkpoints(sqlite_url: str) -> None:
    path = sqlite_file(sqlite_url)
    assert path is not None
    engine = create_engine(sqlite_url)
    try:
        await _write(engine, WRITES)
        done = await asyncio.to_thread(checkpoint, path)
    finally:
        await engine.dispose()
    assert done.logged < 1100  # the log restarted after a commit's checkpoint


async def test_the_runtime_checkpoints_while_leads_write(sqlite_url: str) -> None:
    """With the runtime's thread checkpointing, the log is copied between bursts of writes
    and starts over: it stays as long as one burst, not as all that went through it."""
    path = sqlite_file(sqlite_url)
    assert path is not None
    rt = Runtime(Settings(database_url=sqlite_url, sqlite_checkpoint_s=0.05))
    await rt.start(watch=False)
    try:
        async with rt.engine.connect() as conn:
            found = await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")
            assert found.scalar() == 0
            page = (await conn.exec_driver_sql("PRAGMA page_size")).scalar()
        assert isinstance(page, int)
        bursts = 8
        for _ in range(bursts):
            await _write(rt.engine, WRITES)
            await asyncio.sleep(0.3)  # several passes of the thread, no write meanwhile
        written = bursts * WRITES * page  # at least: with no checkpoint the log holds it all
        assert os.path.getsize(path + "-wal") < written / 3
    finally:
        await rt.stop()
