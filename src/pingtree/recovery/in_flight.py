"""The leads this process is routing or still recording: recovery leaves them alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Coroutine, Iterator
from typing import Any

from pingtree.failures import log_failure

log = logging.getLogger("pingtree.recovery")


class LeadsInFlight:
    """Lead ids this process holds, and the records it is still writing in the background."""

    def __init__(self) -> None:
        self._held: Counter[str] = Counter()
        self._records: set[asyncio.Task[Any]] = set()

    def __contains__(self, lead_id: object) -> bool:
        return lead_id in self._held

    def __len__(self) -> int:
        return len(self._held)

    @contextlib.contextmanager
    def holding(self, lead_id: str) -> Iterator[None]:
        """Mark a lead as this process's while the block runs."""
        self._held[lead_id] += 1
        try:
            yield
        finally:
            self._release(lead_id)

    def record(self, lead_id: str, writing: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run a lead's record as a task that outlives the request; held until it ends."""
        self._held[lead_id] += 1
        task = asyncio.create_task(writing, name=f"pingtree-record-{lead_id}")
        self._records.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._records.discard(finished)
            self._release(lead_id)
            if not finished.cancelled() and finished.exception() is not None:
                # Nobody may be waiting any more: say it here. Recovery settles the lead.
                failure = finished.exception()
                assert failure is not None
                log_failure(log, "record of lead %s failed", failure, lead_id)

        task.add_done_callback(done)
        return task

    async def drain(self, timeout_s: float) -> None:
        """Wait (at most timeout_s) for records still being written, e.g. at shutdown."""
        if self._records:
            await asyncio.wait(list(self._records), timeout=timeout_s)

    def _release(self, lead_id: str) -> None:
        self._held[lead_id] -= 1
        if self._held[lead_id] <= 0:
            del self._held[lead_id]
