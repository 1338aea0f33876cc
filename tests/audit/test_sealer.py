"""The server's sealer: at start, every audit_seal_s, and at shutdown; an anchor each time
the head moves."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pingtree.audit.anchors import read
from pingtree.audit.verify import verify
from pingtree.runtime import Runtime
from pingtree.settings import Settings
from tests.audit.conftest import append_in_transactions, engine_for, events


async def test_the_running_server_seals_and_anchors(database_url: str, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.txt"
    async with engine_for(database_url) as engine:
        await append_in_transactions(engine, [events(3)])  # before the server starts
        settings = Settings(
            database_url=database_url,
            audit_seal_s=0.05,
            audit_anchor_file=anchors,
            max_loop_lag_share=0,
        )
        rt = Runtime(settings)
        await rt.start(watch=True)
        try:
            await append_in_transactions(engine, [events(4, start=3)])
            for _ in range(200):
                verdict = await verify(engine)
                if verdict.links == 7:
                    break
                await asyncio.sleep(0.05)
            assert verdict.intact and verdict.links == 7 and verdict.unsealed == 0
            await append_in_transactions(engine, [events(2, start=7)])
        finally:
            await rt.stop()  # seals what is left
        final = await verify(engine, anchors=read(anchors))
    assert final.intact and final.links == 9
    taken = read(anchors)
    assert taken[-1].seq == 9 and taken[-1].hash == final.end.hash
    assert [a.seq for a in taken] == sorted({a.seq for a in taken})  # written when it moved
