"""No free database connection is saturation, not a failure: 503 busy, retry, nothing stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from pingtree.storage.tables import Lead
from tests.engine.conftest import _harness, sim_buyer
from tests.factories import campaign, document, tier


async def test_a_lead_finding_no_free_connection_is_answered_503_busy(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("does not apply: SQLite keeps one connection, and a lead waits for it")
    async for h in _harness(database_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=0.3):
        h.buyers(sim_buyer("b"))
        await h.configure(document([campaign("b", h.sim)], [tier("t", "priority", ["b"])]))
        async with h.rt.engine.connect() as held:  # the pool's only connection
            await held.execute(text("SELECT 1"))
            answer = await h.post_lead()
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "1"
        assert [r["code"] for r in answer.json()["reasons"]] == ["busy"]
        async with h.rt.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Lead)) == 0
        assert (await h.post_lead()).json()["status"] == "sold"  # and the next one goes through
