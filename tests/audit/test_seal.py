"""Sealing: concurrent leads append without waiting for each other, sealers take turns, and
an event committed late (a lower id after higher ones were sealed) still lands in the chain."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree import audit
from pingtree.audit.chain import canonical_json
from pingtree.audit.repository import events_table
from pingtree.audit.verify import verify
from tests.audit.conftest import T0, append_in_transactions, engine_for, events


async def test_concurrent_appends_and_two_sealers_make_one_intact_chain(
    database_url: str,
) -> None:
    async with engine_for(database_url) as writers, engine_for(database_url) as other:
        done = asyncio.Event()

        async def lead(n: int) -> None:
            for round_ in range(5):
                start = (n * 5 + round_) * 4
                await append_in_transactions(writers, [events(4, start=start)])
                await asyncio.sleep(0)

        async def sealer(engine: object) -> int:
            sealed = 0
            while not done.is_set():
                sealed += await audit.seal(writers if engine is None else other, now=T0, batch=9)
                await asyncio.sleep(0.001)
            return sealed

        sealers = [asyncio.create_task(sealer(None)), asyncio.create_task(sealer(other))]
        await asyncio.gather(*(lead(n) for n in range(12)))
        done.set()
        sealed = sum(await asyncio.gather(*sealers))
        sealed += await audit.seal(writers, now=T0)
        verdict = await verify(writers)
        async with writers.connect() as conn:
            seqs = (await conn.scalars(select(events_table.c.seq))).all()
    assert sealed == 12 * 5 * 4
    assert verdict.intact, verdict.lines()
    assert verdict.links == 240 and verdict.unsealed == 0
    assert sorted(seqs) == list(range(1, 241))


async def test_an_event_committed_after_later_ids_were_sealed_is_sealed_next(
    database_url: str,
) -> None:
    """PostgreSQL hands out ids at insert and makes rows visible at commit: a lead's
    transaction may commit after one that started later. The sealer never assumed id order."""
    async with engine_for(database_url) as engine, engine_for(database_url) as late:
        if engine.dialect.name == "postgresql":
            async with late.begin() as slow:
                await audit.append(slow, events(1, start=100))  # takes the lower id
                await append_in_transactions(engine, [events(3, start=0)])  # commits first
                assert await audit.seal(engine, now=T0) == 3
            # the slow transaction has committed now
        else:  # one writer at a time: give the late event a lower id by hand
            await _append_with_ids(engine, [11, 12, 13], events(3, start=0))
            assert await audit.seal(engine, now=T0) == 3
            await _append_with_ids(engine, [5], events(1, start=100))
        assert await audit.seal(engine, now=T0) == 1
        verdict = await verify(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(events_table.c.id, events_table.c.seq).order_by(events_table.c.seq)
                )
            ).all()
    assert verdict.intact, verdict.lines()
    assert [seq for _, seq in rows] == [1, 2, 3, 4]
    assert rows[-1].id < rows[0].id  # the lowest id, sealed last


async def _append_with_ids(engine: AsyncEngine, ids: list[int], made: list[audit.Event]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            events_table.insert(),
            [
                {
                    "id": event_id,
                    "occurred_at": e.occurred_at,
                    "kind": e.kind.value,
                    "lead_id": e.lead_id,
                    "actor": e.actor,
                    "subject": e.subject,
                    "details": canonical_json(e.details),
                }
                for event_id, e in zip(ids, made, strict=True)
            ],
        )
