"""Audit trails written straight through the audit API, and tampered with in the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from typer.testing import CliRunner, Result

from pingtree import audit
from pingtree.cli import app
from pingtree.storage.db import create_engine
from tests.engine.conftest import engine, engine_clocked, engine_sqlite

__all__ = ["engine", "engine_clocked", "engine_sqlite"]

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def events(count: int, *, start: int = 0, lead_id: str | None = None) -> list[audit.Event]:
    """count events of a lead's way (kinds cycling), a millisecond apart."""
    kinds = [
        audit.EventKind.LEAD_RECEIVED,
        audit.EventKind.LEAD_SCREENED,
        audit.EventKind.LEAD_ROUTED,
    ]
    return [
        audit.Event(
            kinds[i % len(kinds)],
            T0 + timedelta(milliseconds=i),
            actor=audit.publisher("pub") if i % 3 == 0 else audit.SYSTEM,
            lead_id=lead_id or f"lead-{i // 3}",
            subject=f"campaigns/c{i % 5}",
            details={"n": i, "price": f"{i}.50", "note": "naïve ☃"},
        )
        for i in range(start, start + count)
    ]


async def append_in_transactions(
    engine: AsyncEngine, batches: Sequence[Sequence[audit.Event]]
) -> None:
    """Each batch appended in a transaction of its own, as leads do."""
    for batch in batches:
        async with engine.begin() as conn:
            await audit.append(conn, batch)


@asynccontextmanager
async def engine_for(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database, disposed after."""
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def unguarded(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction in which the append-only triggers are off, as for someone with the
    database's owner rights: on PostgreSQL they are on again after (the schema is shared)."""
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as conn:
        if postgres:
            await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            await conn.execute(text("DROP TRIGGER IF EXISTS audit_events_sealed_once"))
            await conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        try:
            yield conn
        finally:
            if postgres:
                await conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))


async def event_id_at(engine: AsyncEngine, seq: int) -> int:
    """The id of the event sealed at link seq."""
    async with engine.connect() as conn:
        found = await conn.scalar(text("SELECT id FROM audit_events WHERE seq = :s"), {"s": seq})
    assert found is not None
    return int(found)


@pytest.fixture
def pingtree(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """`pingtree ...` in-process, its settings pointed at the test database."""
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    monkeypatch.setenv("PINGTREE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PINGTREE_DATABASE_URL", database_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))
