"""Admission control: a process whose event loop runs late refuses new leads at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from pingtree.clock import ManualClock
from pingtree.intake.admission import WINDOW_S, LoopLag
from pingtree.storage.tables import Lead
from tests.engine.conftest import Harness, _harness, sim_buyer
from tests.factories import campaign, document, tier


def test_the_lag_is_the_worst_seen_over_the_window() -> None:
    clock = ManualClock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    lag = LoopLag(clock)
    assert lag.seconds == 0.0
    lag.observe(0.002)
    lag.observe(0.3)
    lag.observe(0.004)
    assert lag.seconds == 0.3
    clock.advance(WINDOW_S + 0.01)
    assert lag.seconds == 0.0  # caught up: nothing slow within the window
    lag.observe(-0.001)  # a sleep woken early is no lag
    assert lag.seconds == 0.0


@pytest.fixture
async def shedding(sqlite_url: str) -> AsyncIterator[Harness]:
    """An engine that refuses leads while its loop runs later than 0.2 of the tree's time."""
    async for harness in _harness(sqlite_url, max_loop_lag_share=0.2):
        yield harness


async def _stored(h: Harness) -> int:
    async with h.rt.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)


async def test_a_lead_arriving_while_the_loop_runs_late_is_refused_at_once(
    shedding: Harness,
) -> None:
    h = shedding
    h.buyers(sim_buyer("taker"))
    await h.configure(
        document(
            [campaign("taker", h.sim)],
            [tier("t", "priority", ["taker"])],
            tree={"max_processing_ms": 2000},  # refuses over 400 ms of lag
        )
    )
    assert (await h.post_lead()).json()["status"] == "sold"

    time.sleep(0.6)  # the loop is stuck, as a saturated process's is
    await asyncio.sleep(0.02)  # the sampler wakes up 0.6 s late and says so
    refused = await h.post_lead()
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["reasons"][0]["code"] == "busy"
    assert await _stored(h) == 1  # refused before it was stored: nothing to settle

    await asyncio.sleep(WINDOW_S + 0.1)  # caught up
    assert (await h.post_lead()).json()["status"] == "sold"
    assert await _stored(h) == 2


@pytest.fixture
async def lag_aware(sqlite_url: str) -> AsyncIterator[Harness]:
    """An engine that watches its loop's lag, refusing only past half the tree's time."""
    async for harness in _harness(sqlite_url, max_loop_lag_share=0.5):
        yield harness


async def test_while_the_loop_runs_late_a_leads_time_is_cut_by_the_lag(
    lag_aware: Harness,
) -> None:
    # Timers fire as late as the loop runs: a lead taken while the loop is 0.45 s late has
    # waited about that long already, and its buyer's timeout would fire that much late.
    # A 1.1 s tree then leaves the 0.6 s buyer too little time; with no lag it sells.
    h = lag_aware
    h.buyers(sim_buyer("slow", latency_ms_min=600, latency_ms_max=600))
    await h.configure(
        document(
            [campaign("slow", h.sim, timeout_ms=10_000)],
            [tier("t", "priority", ["slow"])],
            tree={"max_processing_ms": 1100},
        )
    )
    await asyncio.sleep(WINDOW_S + 0.1)  # whatever lag configuring caused is forgotten
    assert (await h.post_lead()).json()["status"] == "sold"

    h.rt.loop_lag.observe(0.45)  # under half the tree's time: the lead is taken
    late = (await h.post_lead()).json()
    assert late["status"] == "unsold"
    assert late["reasons"][0]["code"] == "timeout"
