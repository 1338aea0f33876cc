"""A lead's record (record_routing), sent as intake.service.finish sends it: in a pipeline.

Its outcome is not read when it is sent; `Recorded.landed()` says, before the commit,
whether it was written. A lead recovery settled first is not written again. On SQLite and
PostgreSQL (where the statements go in one pipeline and the row count comes back later).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.buyers.model import Exchange, Outcome
from pingtree.clock import ManualClock
from pingtree.leads.repository import LeadRecord, insert_lead, record_routing
from pingtree.leads.schemas import LeadStatus
from pingtree.recovery.service import settle_interrupted
from pingtree.routing.model import Answer, Attempt, Reading, RoutingResult
from pingtree.storage import direct
from pingtree.storage.tables import AttemptRow, Lead
from tests.audit.conftest import engine_for

T0 = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)


class _RolledBack(Exception):
    pass


def _stored(lead_id: str) -> LeadRecord:
    lead = LeadRecord(lead_id, "pub", "auto", {"email": "a@example.com"}, True, T0)
    lead.screening = {"verdict": "accept", "score": 90, "band": None, "findings": []}
    return lead


def _declined() -> RoutingResult:
    answer = Answer(Reading(Outcome.REJECTED, reason="no thanks"), duration_ms=20.0)
    attempt = Attempt(
        campaign="c", buyer="b", kind=Exchange.POST, started_at=T0, answer=answer, tier="t"
    )
    return RoutingResult(attempts=[attempt])


async def _record(engine: AsyncEngine, lead: LeadRecord) -> bool:
    """The record as finish() sends it; True when it landed (else rolled back)."""
    try:
        async with engine.begin() as conn, direct.pipeline(conn, commit=True):
            recorded = await record_routing(
                conn,
                lead,
                _declined(),
                payout=Decimal(0),
                tree="t",
                now=T0 + timedelta(seconds=1),
                reasons=[],
            )
            if not await recorded.landed():
                raise _RolledBack
    except _RolledBack:
        return False
    return True


async def test_a_record_lands_once_and_not_after_recovery_settled_its_lead(
    database_url: str,
) -> None:
    async with engine_for(database_url) as engine:
        async with engine.begin() as conn:
            for lead_id in ("routed", "settled-first"):
                await insert_lead(conn, _stored(lead_id))
        await settle_interrupted(
            engine=engine,
            clock=ManualClock(T0 + timedelta(hours=1)),
            older_than=timedelta(minutes=5),
            skip=("routed",),  # still being routed by this process
        )

        assert await _record(engine, _stored("routed")) is True
        assert await _record(engine, _stored("routed")) is False  # recorded already
        assert await _record(engine, _stored("settled-first")) is False

        async with engine.connect() as conn:
            attempts = dict(
                (
                    await conn.execute(
                        select(AttemptRow.lead_id, func.count()).group_by(AttemptRow.lead_id)
                    )
                ).all()
            )
            statuses = dict((await conn.execute(select(Lead.id, Lead.status))).all())
    assert attempts == {"routed": 1}  # once, and nothing from the records rolled back
    assert statuses["routed"] == LeadStatus.UNSOLD.value
    assert statuses["settled-first"] != LeadStatus.RECEIVED.value
