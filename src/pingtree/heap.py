"""The cyclic garbage collector, tuned for a server whose leads wait on a deadline.

A full (generation 2) collection walks every tracked object. After startup that is about
170,000 of them (the ZIP table, the catalog, the imported modules): measured in the app
under load, each full collection held the event loop for 50-300 ms, so every lead in
flight paid it and a 500 ms tree answered late. What startup builds lives as long as the
process, so it is frozen out of the collector's reach (`gc.freeze`): a full collection then
walks only what leads left behind. With nothing old left to compare against, CPython
would then run one every ten middle collections (about 70,000 allocations: a few seconds
of leads), each walking the objects of every lead in flight: it waits for a hundred
instead (OLDEST_EVERY). Young collections keep CPython's thresholds: raising them (10,000
allocations) made each one hold the loop 20-60 ms instead of 1-2 ms.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from typing import Any

OLDEST_EVERY = 100
"""Middle-generation collections between full ones (CPython's default: 10)."""


def settle() -> None:
    """After startup: collect once, freeze what survives out of the collector's reach, and
    run full collections a tenth as often."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, OLDEST_EVERY)


class Pauses:
    """The collections seen since last drained, and how long each held the loop.

    The collector calls back from inside whatever code allocated, which may hold a lock
    (a metric's, say): the callback only appends to a deque, which takes none. Figures
    drains it when scraped.
    """

    def __init__(self, keep: int = 10_000) -> None:
        self._seen: deque[tuple[int, float]] = deque(maxlen=keep)
        self._started = 0.0

    def start(self) -> None:
        """Watch every collection from now on."""
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        """Stop watching."""
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._seen.append((int(info["generation"]), time.perf_counter() - self._started))

    def drain(self) -> list[tuple[int, float]]:
        """(generation, seconds) of each collection since the last drain, oldest first."""
        drained = []
        while self._seen:
            drained.append(self._seen.popleft())
        return drained
