"""Admission control: how late this process's event loop runs, so a saturated process
refuses new leads at once (503, retry) instead of answering the leads it has late.

A leads' deadline is kept by the event loop: when it is short of CPU, every lead in flight
waits its turn and answers late. The loop's lag (how much later than asked a short sleep
wakes up) measures exactly that, whatever the cause: CPU, a busy database driver, GC.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from pingtree.clock import Clock

TICK_S = 0.01
WINDOW_S = 0.25
"""The lag reported is the worst seen over this window: one slow tick is enough to refuse,
and a saturated loop keeps refusing until it has caught up."""


class LoopLag:
    """Samples the event loop's lag every TICK_S while running."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._samples: deque[tuple[float, float]] = deque()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin sampling on the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._sample(), name="pingtree-loop-lag")

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def seconds(self) -> float:
        """The worst lag seen over the last WINDOW_S (0 when not sampling)."""
        self._forget(self.clock.monotonic())
        return self._samples[0][1] if self._samples else 0.0

    def observe(self, lag: float) -> None:
        """Note one sample (the sampler's; tests may add their own)."""
        now = self.clock.monotonic()
        lag = max(lag, 0.0)
        # Samples are kept worst first: one no worse than a later one can never be the
        # window's worst again, so it goes. `seconds` (read several times a lead) is then
        # the first sample still in the window, not a walk over all of them.
        while self._samples and self._samples[-1][1] <= lag:
            self._samples.pop()
        self._samples.append((now, lag))
        self._forget(now)

    def _forget(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - WINDOW_S:
            self._samples.popleft()

    async def _sample(self) -> None:
        while True:
            asked = self.clock.monotonic() + TICK_S
            await asyncio.sleep(TICK_S)
            self.observe(self.clock.monotonic() - asked)
