"""One lead's evidence for a dispute: timeline, consent certificate, audit events with links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pingtree import audit
from pingtree.audit.chain import link_hash, moment
from pingtree.audit.repository import links_before
from pingtree.leads.repository import audit_event_out, timeline
from pingtree.leads.schemas import Evidence, EvidenceLink

HASHING = (
    "hash(n) = SHA-256 (hex) of the UTF-8 text made of these parts, each written as "
    "'<length>:<part>;' (length in characters): prev_hash (64 zeros before link 1), seq, id, "
    "occurred_at_text, kind, lead_id, actor, subject (empty when null), details_text. The "
    "certificate's sha256 is the SHA-256 of certificate_text."
)


async def evidence(session: AsyncSession, lead_id: str, *, now: datetime) -> Evidence | None:
    """Everything recorded about the lead, each audit link checked; None if no such lead."""
    found = await timeline(session, lead_id)
    if found is None:
        return None
    events = await audit.lead_events(session, lead_id)
    before = await links_before(session, [e.seq for e in events if e.seq is not None])
    top = await audit.head(session)
    links: list[EvidenceLink] = []
    for event in events:
        prev = before.get(event.seq) if event.seq is not None else None
        holds = None
        if event.seq is not None and prev is not None:
            holds = event.hash == link_hash(
                prev,
                seq=event.seq,
                event_id=event.id,
                occurred_at=event.occurred_at,
                kind=event.kind,
                lead_id=event.lead_id,
                actor=event.actor,
                subject=event.subject,
                details=event.details,
            )
        shown = audit_event_out(event).model_dump()
        links.append(
            EvidenceLink(
                **shown,
                details_text=event.details,
                occurred_at_text=moment(event.occurred_at),
                prev_hash=prev,
                holds=holds,
            )
        )
    return Evidence(
        exported_at=now,
        lead=found,
        links=links,
        chain_head={"seq": top.seq, "hash": top.hash, "sealed_at": top.sealed_at},
        hashing=HASHING,
    )
