"""When the engine itself cannot work (its database gone), it says so: 503, never a 500."""

from __future__ import annotations

import httpx

from pingtree.app import create_app
from pingtree.storage.db import create_engine, sessions
from tests.engine.conftest import Harness, sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, campaign, document, tier


async def test_database_gone_answers_503_with_a_reason(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("b"))
    await h.configure(document([campaign("b", h.sim)], [tier("t", "priority", ["b"])]))
    # The configuration stays in memory; the database the lead must be stored in is gone.
    await h.rt.engine.dispose()
    h.rt.engine = create_engine("sqlite+aiosqlite:////nonexistent/dir/pingtree.db")
    h.rt.sessions = sessions(h.rt.engine)
    app = create_app(h.rt.settings, runtime=h.rt)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/api/v1/leads",
            json={"vertical": "auto", "fields": LEAD_FIELDS},
            headers={"X-API-Key": API_KEY},
        )
    assert response.status_code == 503
    assert response.json()["reasons"][0]["code"] == "unavailable"
    assert h.sim.received("b") == []  # a lead that could not be stored is never sold
