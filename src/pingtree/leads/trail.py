"""A lead's audit events: what each step of its way writes to the audit trail.

Built from what the step already holds and appended in a transaction the lead makes anyway:
its intake events (received, consent, screening) together with what routing did (one
event for every ping, post and sale, and the answer), when the lead is recorded
(intake.service.finish), so that nothing is added to its way before routing; a lead held or
rejected by screening writes them when it is answered. The events name facts (outcomes,
prices, digests); the lead's rows keep the rest (requests, answers).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.audit import SYSTEM, Event, EventKind, publisher
from pingtree.audit.repository import has_event
from pingtree.consent import repository as consent_repository
from pingtree.digests import canonical_json, sha256_hex
from pingtree.leads.repository import LeadRecord, attempt_values, stored_lead
from pingtree.leads.schemas import LeadAnswer, Reason
from pingtree.routing.model import Attempt, RoutingResult, SkipReason


def taken(lead: LeadRecord) -> list[Event]:
    """The lead received (its fields' digest), its consent, and what screening decided
    (lead.screening, once known)."""
    at = lead.received_at
    events = [
        Event(
            EventKind.LEAD_RECEIVED,
            at,
            actor=publisher(lead.publisher),
            lead_id=lead.id,
            subject=f"verticals/{lead.vertical}",
            details={
                "fields_sha256": sha256_hex(canonical_json(lead.fields)),
                "test": lead.test,
                **({"inbound_ping_id": lead.inbound_ping_id} if lead.inbound_ping_id else {}),
            },
        )
    ]
    if lead.consent is not None:
        events.append(
            Event(
                EventKind.CONSENT_CAPTURED,
                at,
                actor=publisher(lead.publisher),
                lead_id=lead.id,
                subject=f"consent/{lead.consent.id}",
                details={
                    "sha256": lead.consent.sha256,
                    "consented_at": lead.consent.consented_at.isoformat(),
                    "sellers": list(lead.consent.sellers),
                },
            )
        )
    if lead.screening is not None:
        screened = lead.screening
        events.append(
            Event(
                EventKind.LEAD_SCREENED,
                at,
                lead_id=lead.id,
                details={
                    "verdict": screened.get("verdict"),
                    "score": screened.get("score"),
                    "band": screened.get("band"),
                    "findings": [f.get("code") for f in screened.get("findings") or []],
                },
            )
        )
    return events


def pinged(lead_id: str, pings: Sequence[Attempt], at: datetime) -> list[Event]:
    """The pings an inbound ping made for the lead, before the publisher posted it."""
    if not pings:
        return []
    details = {"attempts": [_attempt(a) for a in pings]}
    return [Event(EventKind.INBOUND_PINGS, at, lead_id=lead_id, details=details)]


def routed(
    lead: LeadRecord, result: RoutingResult, answer: LeadAnswer, *, tree: str | None, now: datetime
) -> list[Event]:
    """One event: every ping and post routing made, each sale, the answer, and the campaigns
    the lead's one-to-one consent kept out.

    One row however many buyers were asked: the chain holds each attempt's facts, the
    attempts table the requests and answers.
    """
    details = _answer(answer)
    details.update(
        tree=tree,
        revenue=_money(result.revenue),
        timed_out=result.timed_out,
        attempts=[_attempt(a) for a in result.attempts],
        sales=[
            {
                "campaign": sale.campaign,
                "buyer": sale.buyer,
                "tier": sale.tier,
                "price": _money(sale.price),
                "reference": sale.reference,
            }
            for sale in result.sales
        ],
        consent_skipped=[s.campaign for s in result.skips if s.reason == SkipReason.CONSENT],
    )
    return [Event(EventKind.LEAD_ROUTED, now, lead_id=lead.id, details=details)]


def answered(lead_id: str, answer: LeadAnswer, now: datetime, *, actor: str = SYSTEM) -> Event:
    """The answer of a lead that was not routed: status and reasons."""
    return Event(
        EventKind.LEAD_ANSWERED, now, actor=actor, lead_id=lead_id, details=_answer(answer)
    )


def _answer(answer: LeadAnswer) -> dict[str, Any]:
    return {
        "status": answer.status.value,
        "payout": _money(answer.payout),
        "reasons": _codes(answer.reasons),
    }


_CHAINED = (
    "kind",
    "campaign",
    "buyer",
    "tier",
    "outcome",
    "price",
    "reference",
    "reason",
    "started_at",
    "duration_ms",
)
"""What the chain holds of a ping or post (its row holds the rest: requests and answers)."""


def _attempt(a: Attempt) -> dict[str, Any]:
    """A ping or post as the chain holds it (what is unset left out)."""
    values = attempt_values(a)
    values.update(price=_money(values["price"]), started_at=a.started_at.isoformat())
    return {k: values[k] for k in _CHAINED if values[k] is not None}


def _codes(reasons: Sequence[Reason]) -> list[str]:
    return [r.code for r in reasons]


def _money(amount: Any) -> str | None:
    return None if amount is None else str(amount)


async def taken_if_missing(conn: AsyncConnection, lead_id: str) -> list[Event]:
    """A stored lead's intake events, unless they are in the trail already: for a lead whose
    record never landed (a crash), which recovery settles."""
    if await has_event(conn, lead_id, EventKind.LEAD_RECEIVED.value):
        return []
    lead = await stored_lead(conn, lead_id)
    if lead is None:
        return []
    lead.consent = await consent_repository.of_lead(conn, lead_id)
    return taken(lead)
