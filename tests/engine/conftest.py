"""The engine under test: real simulator buyers, a real database, the app over ASGI."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pingtree.app import create_app
from pingtree.clock import Clock, ManualClock
from pingtree.config.document import ConfigDocument
from pingtree.config.store import apply_document
from pingtree.runtime import Runtime
from pingtree.settings import Settings
from pingtree.simulator import RunningSimulator, SimBuyer, SimulatorConfig, start_simulator
from tests.conftest import migrated_database
from tests.factories import API_KEY, LEAD_FIELDS

ADMIN_TOKEN = "admin-test-token"
RECORD_WAIT_S = 60.0
"""How long a test waits for records written in the background (a busy machine is slow)."""
WEDNESDAY_NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SECRET_KEY = "2x0M8ZqzJ2m2N5o8CqXn8wJv6YtT0h3o9sXj6mQe1aU="
"""Encrypts the buyer secrets tests configure (a Fernet key: 32 url-safe base64 bytes)."""
SIMULATOR_ALLOW = "127.0.0.1"
"""The simulator listens on loopback, on a free port: any port of 127.0.0.1 is allowed."""


def sim_buyer(name: str, **behaviour: Any) -> SimBuyer:
    """A simulated buyer: accepts everything, bids 10-20, answers at once unless told."""
    settings: dict[str, Any] = {"bid_min": Decimal("10.00"), "bid_max": Decimal("20.00"), "seed": 7}
    settings.update(behaviour)
    return SimBuyer(name=name, **settings)


class Harness:
    """One engine: its simulator, runtime and an HTTP client to the app."""

    def __init__(
        self, sim: RunningSimulator, rt: Runtime, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        self.sim = sim
        self.rt = rt
        self.client = client
        self.app = app

    def client_at(self, address: str) -> httpx.AsyncClient:
        """Another client of the same app, calling from address (close it after use)."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://pingtree.test")

    def buyers(self, *buyers: SimBuyer) -> None:
        """Serve these simulated buyers (replacing any of the same name)."""
        for buyer in buyers:
            self.sim.set_buyer(buyer)

    async def configure(self, document: ConfigDocument) -> None:
        """Apply a configuration and put it in force."""
        async with self.rt.sessions() as session, session.begin():
            await apply_document(
                session,
                document,
                now=self.rt.clock.now(),
                allow=self.rt.settings.buyer_allowlist,
                keys=self.rt.settings.secret_keys,
            )
        await self.rt.reload_config()

    async def post_lead(
        self,
        fields: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        **body: Any,
    ) -> httpx.Response:
        """POST /api/v1/leads as the test publisher."""
        payload = {
            "vertical": "auto",
            "fields": fields if fields is not None else LEAD_FIELDS,
            **body,
        }
        return await self.client.post(
            "/api/v1/leads", json=payload, headers={"X-API-Key": API_KEY, **(headers or {})}
        )

    async def timeline(self, lead_id: str) -> dict[str, Any]:
        """GET the lead's whole timeline as an operator (the publisher sees only its own story).

        Records still being written are waited for first: on a busy machine an answer may
        leave at its deadline while its record lands in the background.
        """
        await self.rt.in_flight.drain(RECORD_WAIT_S)
        response = await self.client.get(
            f"/api/v1/admin/leads/{lead_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Harness]:
    """An engine on each database backend."""
    async for harness in _harness(database_url):
        yield harness


@pytest.fixture(
    params=[
        pytest.param(("sqlite", False), id="sqlite"),
        pytest.param(("postgres", False), id="postgres"),
        pytest.param(("sqlite", True), id="sqlite-delivery-process"),
    ]
)
async def engine_senders(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_schema_url: str | None
) -> AsyncIterator[Harness]:
    """An engine on each database backend, and one on SQLite whose pings and posts go out
    from a delivery process (delivery_process): what buyers answer must read the same."""
    backend, delivery_process = request.param
    async with migrated_database(backend, tmp_path, postgres_schema_url) as url:
        async for harness in _harness(url, delivery_process=delivery_process):
            yield harness


@pytest.fixture
async def engine_sqlite(sqlite_url: str) -> AsyncIterator[Harness]:
    """An engine on SQLite only, for behaviour that does not depend on storage."""
    async for harness in _harness(sqlite_url):
        yield harness


@pytest.fixture
async def engine_on_wednesday(sqlite_url: str) -> AsyncIterator[Harness]:
    """An engine on SQLite whose wall clock reads Wednesday 2026-11-25 12:00 UTC."""
    clock = ManualClock(WEDNESDAY_NOON)
    async for harness in _harness(sqlite_url, clock=clock):
        yield harness


@pytest.fixture
async def engine_clocked(database_url: str) -> AsyncIterator[Harness]:
    """An engine on each database backend whose wall clock starts Wednesday 2026-11-25 12:00
    UTC and moves only when told (rt.clock is the ManualClock)."""
    async for harness in _harness(database_url, clock=ManualClock(WEDNESDAY_NOON)):
        yield harness


async def _harness(
    url: str, *, clock: Clock | None = None, **settings_: Any
) -> AsyncIterator[Harness]:
    sim = await start_simulator(SimulatorConfig(port=0, buyers=[sim_buyer("placeholder")]))
    # Tests post bursts of leads into one loop on a shared machine: shedding them on loop
    # lag would make counts depend on the machine's load. tests/intake covers the shedding.
    settings_.setdefault("max_loop_lag_share", 0)
    # Likewise a burst of 200 leads may wait long for a pooled connection on a busy machine;
    # tests/storage/test_pool.py and tests/api/test_busy.py cover the pool's timeout.
    settings_.setdefault("db_pool_timeout_s", 120)
    settings_.setdefault("buyer_url_allow", SIMULATOR_ALLOW)
    settings = Settings(
        database_url=url,
        admin_token=ADMIN_TOKEN,
        secret_key=SECRET_KEY,
        **settings_,
    )
    rt = Runtime(settings, clock=clock, rng=random.Random(20261125))
    await rt.start(watch=False)
    app = create_app(settings, runtime=rt)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pingtree.test") as client:
        yield Harness(sim, rt, client, app)
    await rt.stop()
    await sim.stop()
