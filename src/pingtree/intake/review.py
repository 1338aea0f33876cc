"""Manual review: a person decides on a lead screening flagged.

Each decision is one transaction: the lead leaves the queue only if it is still in it (one
reviewer wins), and a rejection records its reason and frees the person in the same commit.
An approved lead is then routed as if it had just arrived.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from pingtree import audit, logs
from pingtree.consent import repository as consent_repository
from pingtree.intake.errors import refuse
from pingtree.intake.service import route_lead
from pingtree.leads import trail
from pingtree.leads.repository import LeadRecord
from pingtree.leads.schemas import LeadAnswer, LeadStatus, Reason
from pingtree.reporting import events
from pingtree.screening import repository
from pingtree.screening.service import Screening, buyer_blocks, identity_hashes
from pingtree.storage.tables import Lead

if TYPE_CHECKING:
    from pingtree.runtime import Runtime

REJECTED_IN_REVIEW = "rejected_in_review"


async def _take_from_queue(
    session: AsyncSession,
    lead_id: str,
    status: LeadStatus,
    reviewer: str,
    reason: str | None = None,
    *,
    at: datetime,
) -> Lead:
    """Move a lead out of the review queue, or refuse 409 if another decision came first;
    the decision goes into the audit trail with who made it and when (at), in the same
    transaction."""
    # An approved lead is routed from now on: recovery counts its time from then.
    routed = {"routing_started_at": at} if status is LeadStatus.RECEIVED else {}
    moved = await session.execute(
        update(Lead)
        .where(Lead.id == lead_id, Lead.status == LeadStatus.REVIEW.value)
        .values(status=status.value, **routed)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise refuse(409, "not_in_review", f"lead {lead_id!r} is not waiting for review")
    lead = await session.get(Lead, lead_id)
    assert lead is not None
    decision = "approved" if status is LeadStatus.RECEIVED else "rejected"
    details = {"decision": decision, **({"reason": reason} if reason else {})}
    event = audit.Event(
        audit.EventKind.REVIEW_DECIDED,
        at,
        actor=audit.operator(reviewer),
        lead_id=lead_id,
        details=details,
    )
    await audit.append(session, [event])
    return lead


async def approve(rt: Runtime, lead_id: str, reviewer: str) -> LeadAnswer:
    """Approve a flagged lead: it is routed now, and the answer says how it went."""
    catalog = rt.catalog  # one configuration for the whole decision, though a new one loads
    async with rt.sessions() as session, session.begin():
        lead = await _take_from_queue(
            session, lead_id, LeadStatus.RECEIVED, reviewer, at=rt.clock.now()
        )
        if lead.publisher not in catalog.publishers or lead.vertical not in catalog.verticals:
            # Rolled back: the lead stays in the queue, for a rejection.
            raise refuse(
                409,
                "not_routable",
                f"lead {lead_id!r} came from publisher {lead.publisher!r} in vertical "
                f"{lead.vertical!r}; one of them is no longer configured: reject it instead",
            )
        policy = catalog.screening(lead.publisher, lead.vertical)
        hashes = identity_hashes(policy, lead.fields)
        blocked = await buyer_blocks(
            session, policy=policy, buyers=catalog.buyers, hashes=hashes, now=rt.clock.now()
        )
        record = LeadRecord.of(lead)
        record.consent = await consent_repository.of_lead(session, lead_id)
        record.audited = True  # its intake events were written when it was held
        record.previous_status = LeadStatus.REVIEW.value  # reports move it out of review
    stored = lead.screening or {}
    checked = Screening(
        score=lead.risk_score or 0,
        band=stored.get("band"),
        blocked_buyers=blocked,
        person_hashes=hashes,
    )
    publisher = catalog.publishers[record.publisher]
    with logs.for_lead(lead_id):
        _status, answer = await route_lead(
            rt, record, publisher, checked, None, started=rt.clock.monotonic()
        )
    return answer


async def reject(rt: Runtime, lead_id: str, why: str, reviewer: str) -> LeadAnswer:
    """Reject a flagged lead with a reason; it is never routed."""
    reason = Reason(code=REJECTED_IN_REVIEW, message=why)
    async with rt.sessions() as session, session.begin():
        lead = await _take_from_queue(
            session, lead_id, LeadStatus.REJECTED, reviewer, why, at=rt.clock.now()
        )
        lead.reasons = [*lead.reasons, reason.model_dump()]
        lead.answered_at = rt.clock.now()
        # A rejected lead claims no one, as when a check rejects it: free the person it held.
        await repository.release_person(session, lead_id)
        if not lead.test:
            await events.answered(
                await session.connection(),
                lead_id=lead.id,
                publisher=lead.publisher,
                vertical=lead.vertical,
                received_at=lead.received_at,
                at=lead.answered_at,
                status=LeadStatus.REJECTED.value,
                previous=LeadStatus.REVIEW.value,
                codes={reason.code: 1},
                actor=reviewer,
            )
        answer = LeadAnswer(
            lead_id=lead_id, status=LeadStatus.REJECTED, reasons=[reason], test=lead.test
        )
        await audit.append(session, [trail.answered(lead_id, answer, rt.clock.now())])
    return answer
