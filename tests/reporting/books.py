"""Keeping the books in tests: pass after pass, until every event and entry is rolled.

A roller reads only rows below the PostgreSQL horizon (the oldest write transaction still
open, cluster-wide), so a test sharing the server with other work may need a few passes.
"""

from __future__ import annotations

import asyncio
from typing import cast

from sqlalchemy import Table, func, select

from pingtree.bookkeeping import Kept
from pingtree.ledger.balances import SOURCE as LEDGER
from pingtree.reporting.rollups import SOURCE as EVENTS
from pingtree.runtime import Runtime
from pingtree.storage import cursors
from pingtree.storage.books import LeadEvent, LedgerEntry

WAIT_S = 120.0  # PostgreSQL: an open write transaction anywhere on the server holds rolls back


async def unrolled(rt: Runtime) -> int:
    """Lead events and ledger entries no roller has taken in yet."""
    waiting = 0
    async with rt.engine.connect() as conn:
        for table, source in ((LeadEvent.__table__, EVENTS), (LedgerEntry.__table__, LEDGER)):
            t = cast(Table, table)
            found = await conn.scalar(
                select(func.count()).select_from(t).where(cursors.past(t, source))
            )
            waiting += int(found or 0)
    return waiting


async def keep_books(rt: Runtime, *, send: bool = False) -> Kept:
    """Keep the books until nothing is left to roll; what all the passes did together.

    Leads' records still being written land first: on a loaded machine a lead can be
    answered before its record (and lead event) is written."""
    await rt.in_flight.drain(WAIT_S)
    total = Kept()
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        kept = await rt.books.keep(rt.http if send else None)
        total = Kept(
            total.events + kept.events,
            total.entries + kept.entries,
            total.postbacks + kept.postbacks,
        )
        if not await unrolled(rt):
            return total
        assert asyncio.get_running_loop().time() < deadline, "the books were not rolled in time"
        await asyncio.sleep(0.05)
