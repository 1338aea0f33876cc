"""A call campaign's live calls at once (its concurrency: 3 agents take 3 calls).

A line is taken with one conditional UPDATE (live < limit) and given back once, through
the call's own row (the campaign whose line it holds), so two processes never put more
calls through than the buyer has agents, and a call never gives its line back twice.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.storage.db import dialect_insert_for
from pingtree.storage.tables import CallLineRow, CallRow

lines = cast(Table, CallLineRow.__table__)
calls = cast(Table, CallRow.__table__)


class CallLines:
    """Live-call lines per campaign, in the system of record."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def take(self, campaign: str, *, call_id: str, limit: int) -> bool:
        """Take one of the campaign's lines for a call: False when all are live (or the call
        holds a line already). The call's row, then the line's: give_back's order."""
        try:
            async with self.engine.begin() as conn:
                insert = dialect_insert_for(conn.dialect.name)
                await conn.execute(
                    insert(lines).values(campaign=campaign, live=0).on_conflict_do_nothing()
                )
                held = await conn.execute(
                    update(calls)
                    .where(calls.c.id == call_id, calls.c.line.is_(None))
                    .values(line=campaign)
                )
                if held.rowcount != 1:
                    raise _NotTaken
                taken = await conn.execute(
                    update(lines)
                    .where(lines.c.campaign == campaign, lines.c.live < limit)
                    .values(live=lines.c.live + 1)
                )
                if taken.rowcount != 1:
                    raise _NotTaken  # every line is live: the call's row is rolled back too
        except _NotTaken:
            return False
        return True

    async def give_back(self, call_id: str) -> str | None:
        """Give back the line a call holds, if any (once): the campaign it was."""
        async with self.engine.begin() as conn:
            campaign = await conn.scalar(select(calls.c.line).where(calls.c.id == call_id))
            if campaign is None:
                return None
            freed = await conn.execute(
                update(calls)
                .where(calls.c.id == call_id, calls.c.line == campaign)
                .values(line=None)
            )
            if freed.rowcount != 1:  # another webhook gave it back first
                return None
            await conn.execute(
                update(lines)
                .where(lines.c.campaign == campaign, lines.c.live > 0)
                .values(live=lines.c.live - 1)
            )
        return str(campaign)

    async def live(self, campaign: str) -> int:
        """The campaign's live calls now."""
        async with self.engine.connect() as conn:
            count = await conn.scalar(select(lines.c.live).where(lines.c.campaign == campaign))
        return int(count or 0)


class _NotTaken(Exception):
    """No line was taken: the transaction is rolled back."""
