"""SQLite's write-ahead log checkpointed from a worker thread, never on the event loop.

pingtree runs SQLite statements inline on the loop (storage.sqlite_inline). By default
SQLite checkpoints inside the commit that pushes the log past 1,000 pages: it copies the
log into the database file and syncs it to disk, 5-20 ms on this kind of machine, during
which every lead in flight waits. The serving engine turns that off (`wal_autocheckpoint`
0) and this task checkpoints every `sqlite_checkpoint_s` (1 s) from a thread of its own (sqlite3
releases the GIL): PASSIVE, so it never waits for or blocks a writer. Commands that use
the database briefly (`pingtree apply`) keep SQLite's own checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass

log = logging.getLogger("pingtree.storage")


@dataclass(frozen=True)
class Checkpoint:
    """What one checkpoint did: pages in the log, and pages copied into the database."""

    busy: bool
    logged: int
    copied: int


def checkpoint(path: str) -> Checkpoint:
    """One PASSIVE checkpoint of the database file at path (blocking: run it in a thread)."""
    with sqlite3.connect(path, timeout=0) as conn:
        busy, logged, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    conn.close()
    return Checkpoint(bool(busy), logged, copied)


async def keep_checkpointing(path: str, every_s: float) -> None:
    """Checkpoint path's log every every_s, off the loop, until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(checkpoint, path)
        except sqlite3.Error as exc:  # the next pass copies what this one could not
            log.warning("checkpointing %s failed: %s", path, exc)
