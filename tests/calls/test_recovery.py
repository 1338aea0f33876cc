"""Recovery leaves a call's lead alone while its caller may be on the line (a dial waits
through the whole conversation, maybe in another process), and settles it after that."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.calls import repository
from pingtree.calls.repository import CallStatus
from pingtree.clock import ManualClock
from pingtree.leads.repository import LeadRecord, insert_lead, leads
from pingtree.recovery.service import settle_interrupted
from pingtree.storage.db import create_engine
from tests.calls.conftest import call_row

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _call_with_lead(engine: AsyncEngine, call_id: str, started: datetime) -> str:
    lead_id = f"lead-{call_id}"
    async with engine.begin() as conn:
        await insert_lead(
            conn,
            LeadRecord(
                id=lead_id,
                publisher="pub",
                vertical="auto",
                fields={"phone": "+12127365000"},
                test=False,
                received_at=started,
            ),
        )
        await repository.open_call(conn, call_row(call_id, started_at=started, lead_id=lead_id))
    return lead_id


async def test_a_call_on_the_line_is_not_settled_as_interrupted(engine: AsyncEngine) -> None:
    talking = await _call_with_lead(engine, "CA-talking", NOW - timedelta(minutes=30))
    lost = await _call_with_lead(engine, "CA-lost", NOW - timedelta(hours=5))
    settled = await settle_interrupted(
        engine=engine, clock=ManualClock(NOW), older_than=timedelta(minutes=2), skip=()
    )
    assert settled.interrupted == 1
    async with engine.connect() as conn:
        status = dict((await conn.execute(select(leads.c.id, leads.c.status))).all())
        talking_call = await repository.get_call(conn, "CA-talking")
        lost_call = await repository.get_call(conn, "CA-lost")
    assert status == {talking: "received", lost: "unsold"}
    assert talking_call is not None and talking_call.status == CallStatus.ROUTING
    assert lost_call is not None and lost_call.status == CallStatus.UNSOLD
