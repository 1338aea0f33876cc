"""SQLite's write-ahead log checkpointed from a worker thread, never on the event loop.

pingtree runs SQLite statements inline on the loop (storage.sqlite_inline). By default
SQLite checkpoints inside the commit that pushes the log past 1,000 pages: it copies the
log into the database file and syncs it to disk, 5-20 ms on this kind of machine, during
which every lead in flight waits. The serving engine turns that off (`wal_autocheckpoint`
0) and this task checkpoints every `sqlite_checkpoint_s` (1 s) from a thread of its own
(sqlite3 releases the GIL). Commands that use the database briefly (`pingtree apply`) keep
SQLite's own checkpoints.

A PASSIVE checkpoint never waits for or blocks a writer, but under steady writes it never
quite finishes (the writer appends while it copies), and the log only starts over once one
has: it would grow without end (it does start over whenever a pass ends with no write
meanwhile, which a lighter load leaves time for). So past RESTART_AT_PAGES the thread runs
a RESTART checkpoint: it waits for the writer's transaction, holds writes off while it
copies the rest (the writer waits with asyncio sleeps, as for another process's lock: the
loop goes on), and the next write starts the log from the beginning. It waits at most
RESTART_WAIT_S: a transaction that began reading and now waits to write holds its snapshot,
which the restart would wait for in turn; the restart gives up instead, and is tried again
at the next pass.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass

log = logging.getLogger("pingtree.storage")

RESTART_AT_PAGES = 10_000
"""Pages in the log (40 MB at 4 KiB) past which a checkpoint makes the log start over: a
restart holds writes off for its wait and its sync, so it is kept rare (at 100 leads a
second about one every ten seconds; at 2,000 pages the hang benchmark had 5 of 200 leads
late where it had none)."""
RESTART_WAIT_S = 0.05
"""How long a restart waits for the writer's transaction and for readers (then gives up)."""


@dataclass(frozen=True)
class Checkpoint:
    """What one checkpoint did: pages in the log, pages copied, and whether it restarted it."""

    busy: bool
    logged: int
    copied: int
    restarted: bool = False


def checkpoint(path: str, restart_at: int = RESTART_AT_PAGES) -> Checkpoint:
    """Checkpoint the database file at path (blocking: run it in a thread): PASSIVE, then
    RESTART when the log still holds restart_at pages or more."""
    conn = sqlite3.connect(path, timeout=RESTART_WAIT_S)
    try:
        busy, logged, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if logged < restart_at:
            return Checkpoint(bool(busy), logged, copied)
        busy, logged, copied = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        return Checkpoint(bool(busy), logged, copied, restarted=not busy)
    finally:
        conn.close()


async def keep_checkpointing(path: str, every_s: float, restart_at: int = RESTART_AT_PAGES) -> None:
    """Checkpoint path's log every every_s, off the loop, until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(checkpoint, path, restart_at)
        except sqlite3.Error as exc:  # the next pass copies what this one could not
            log.warning("checkpointing %s failed: %s", path, exc)
