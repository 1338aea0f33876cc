"""Console sessions in storage, on SQLite and PostgreSQL: open, resume, expire, end, purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from pingtree.console import sessions
from pingtree.operators.tokens import token_hash
from pingtree.storage.db import create_engine
from pingtree.storage.db import sessions as session_factory
from pingtree.storage.tables import ConsoleSession

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
LIFE = sessions.Lifetime(idle=timedelta(minutes=30), absolute=timedelta(hours=8))
CREDENTIAL = token_hash("pto_example")


async def test_sessions_live_and_end_in_storage(database_url: str) -> None:
    engine = create_engine(database_url)
    make = session_factory(engine)
    try:
        async with make() as s, s.begin():
            kept = await sessions.open_session(s, CREDENTIAL, now=T0)
            idle = await sessions.open_session(s, CREDENTIAL, now=T0)
            ended = await sessions.open_session(s, CREDENTIAL, now=T0)
        async with make() as s, s.begin():
            stored = set((await s.scalars(select(ConsoleSession.id_hash))).all())
        assert stored == {token_hash(kept), token_hash(idle), token_hash(ended)}

        async with make() as s, s.begin():
            at = T0 + timedelta(minutes=29)
            assert await sessions.resume(s, kept, now=at, lifetime=LIFE) == CREDENTIAL
            assert await sessions.resume(s, "unknown", now=at, lifetime=LIFE) is None
            await sessions.end(s, ended)
        async with make() as s, s.begin():
            at = T0 + timedelta(minutes=31)
            assert await sessions.resume(s, idle, now=at, lifetime=LIFE) is None  # deleted
            assert await sessions.resume(s, kept, now=at, lifetime=LIFE) == CREDENTIAL
            assert await sessions.resume(s, ended, now=at, lifetime=LIFE) is None
        async with make() as s, s.begin():
            assert await sessions.purge_expired(s, now=T0 + timedelta(hours=8), lifetime=LIFE) == 1
            assert await s.scalar(select(func.count()).select_from(ConsoleSession)) == 0
    finally:
        await engine.dispose()
