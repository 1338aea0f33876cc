"""The configuration's history: each applied change with its operator, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pingtree.config import history
from pingtree.config.store import lock_configuration
from pingtree.storage.db import create_engine, sessions

AT = datetime(2026, 11, 25, 12, tzinfo=UTC)


async def test_changes_are_recorded_redacted_and_read_back_newest_first(database_url: str) -> None:
    engine = create_engine(database_url)
    make = sessions(engine)
    clear = {"name": "c", "delivery": {"auth": {"type": "bearer", "token": "in-clear"}}}
    async with make() as session, session.begin():
        await lock_configuration(session)
        for i in range(3):
            await history.record_change(
                session,
                operator=f"op{i}",
                source="console",
                now=AT + timedelta(minutes=i),
                lines=[f"~ change campaigns/c{i}"],
                before={f"campaigns/c{i}": None},
                after={f"campaigns/c{i}": clear},
            )
    async with make() as session:
        newest = await history.changes(session, limit=2)
        older = await history.changes(session, limit=2, before_id=newest[-1].id)
        count = await history.change_count(session)
    await engine.dispose()
    assert [c.operator for c in newest] == ["op2", "op1"] and [c.operator for c in older] == ["op0"]
    assert count == 3
    assert newest[0].changed_at == AT + timedelta(minutes=2)
    assert newest[0].after["campaigns/c2"]["delivery"]["auth"]["token"] == "***"
    assert newest[0].before == {"campaigns/c2": None} and newest[0].lines == [
        "~ change campaigns/c2"
    ]
