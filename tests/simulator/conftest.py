"""Fixtures: a real simulator on a free port and an HTTP client to talk to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from pingtree.simulator import RunningSimulator, SimBuyer, SimulatorConfig, start_simulator

from .pingtree_side import Handler, PingtreeSide, start_side

StartSim = Callable[..., Awaitable[RunningSimulator]]


def buyer(name: str = "acme", **overrides: Any) -> SimBuyer:
    """A buyer that bids 10.00-20.00 and accepts everything unless told otherwise."""
    settings: dict[str, Any] = {"bid_min": Decimal("10.00"), "bid_max": Decimal("20.00")}
    settings.update(overrides)
    return SimBuyer(name=name, **settings)


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    started: list[RunningSimulator] = []

    async def start(*buyers: SimBuyer) -> RunningSimulator:
        sim = await start_simulator(SimulatorConfig(port=0, buyers=list(buyers)))
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await sim.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


StartSide = Callable[[dict[str, Handler]], Awaitable[PingtreeSide]]


@pytest.fixture
async def pingtree_side() -> AsyncIterator[StartSide]:
    """Start stand-ins for pingtree's voice webhooks: path -> handler returning TwiML."""
    runners: list[web.AppRunner] = []

    async def start(routes: dict[str, Handler]) -> PingtreeSide:
        return await start_side(routes, runners)

    yield start
    for runner in runners:
        await runner.cleanup()
