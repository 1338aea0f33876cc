"""Buyer destinations at connect time: a name resolving to a refused address is not reached."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import pytest

from pingtree.app import create_app
from pingtree.runtime import Runtime
from pingtree.settings import Settings
from pingtree.simulator import RunningSimulator, SimulatorConfig, start_simulator
from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import campaign, document, tier

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def other_sim() -> AsyncIterator[RunningSimulator]:
    sim = await start_simulator(SimulatorConfig(port=0, buyers=[sim_buyer("safe")]))
    yield sim
    await sim.stop()


@pytest.fixture
async def rebinding(sqlite_url: str, other_sim: RunningSimulator) -> AsyncIterator[Harness]:
    """An engine allowing the name localhost, but only the other simulator's address."""
    sim = await start_simulator(SimulatorConfig(port=0, buyers=[sim_buyer("inside")]))
    settings = Settings(
        database_url=sqlite_url,
        admin_token=ADMIN_TOKEN,
        buyer_url_allow=f"localhost,127.0.0.1:{other_sim.port}",
    )
    rt = Runtime(settings, rng=random.Random(1))
    await rt.start(watch=False)
    app = create_app(settings, runtime=rt)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pingtree.test") as client:
        yield Harness(sim, rt, client, app)
    await rt.stop()
    await sim.stop()


async def test_a_name_resolving_to_a_refused_address_fails_and_the_lead_cascades(
    rebinding: Harness, other_sim: RunningSimulator
) -> None:
    h = rebinding
    inside = campaign("inside", h.sim)
    # Passes validation by name; resolves to 127.0.0.1 on a port nobody allowed.
    inside["delivery"]["post"]["url"] = f"http://localhost:{h.sim.port}/buyers/inside/post"
    safe = campaign("safe", other_sim)
    await h.configure(document([inside, safe], [tier("t", "priority", ["inside", "safe"])]))
    response = await h.post_lead()
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "sold"
    timeline = (
        await h.client.get(f"/api/v1/admin/leads/{response.json()['lead_id']}", headers=ADMIN)
    ).json()
    first, second = timeline["attempts"]
    assert (first["campaign"], first["outcome"]) == ("inside", "error")
    assert f"127.0.0.1:{h.sim.port} is a loopback address" in first["reason"]
    assert (second["campaign"], second["outcome"]) == ("safe", "accepted")
    assert h.sim.received("inside") == []
    assert len(other_sim.received("safe")) == 1


async def test_admin_api_refuses_a_metadata_url_naming_the_key(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("b"))
    await h.configure(document([campaign("b", h.sim)], [tier("t", "priority", ["b"])]))
    spec = campaign("b", h.sim)
    spec["delivery"]["post"]["url"] = "http://169.254.169.254/latest/meta-data/"
    response = await h.client.put("/api/v1/admin/campaigns/b", json=spec, headers=ADMIN)
    assert response.status_code == 422
    [issue] = response.json()["issues"]
    assert issue["path"] == "campaigns/b.delivery.post.url"
    assert "link-local/metadata address" in issue["reason"]
