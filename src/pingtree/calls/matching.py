"""The form lead a caller left earlier: same normalised phone, recent enough.

Found through the people index (lead_people: SHA-256 of the normalised phone), so no lead
field is read to find it. A lead that is itself a call, a test lead, or one screening
rejected (a duplicate copy, a suppressed person) is never a call's match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.identity import normalize_phone, person_hash
from pingtree.leads.schemas import LeadStatus
from pingtree.storage.tables import CallRow, Lead, LeadPerson

leads = cast(Table, Lead.__table__)
people = cast(Table, LeadPerson.__table__)
calls = cast(Table, CallRow.__table__)


@dataclass(frozen=True)
class Match:
    """The caller's form lead."""

    lead_id: str
    vertical: str
    fields: dict[str, Any]
    received_at: datetime


async def form_lead(
    conn: AsyncConnection, caller: str, *, now: datetime, days: int
) -> Match | None:
    """The caller's latest form lead of the last `days` days, if any."""
    phone = normalize_phone(caller)
    if phone is None or days <= 0:
        return None
    is_call = select(calls.c.id).where(calls.c.lead_id == leads.c.id).exists()
    row = (
        await conn.execute(
            select(leads.c.id, leads.c.vertical, leads.c.fields, leads.c.received_at)
            .join(people, people.c.lead_id == leads.c.id)
            .where(
                people.c.person_hash == person_hash(phone),
                leads.c.received_at >= now - timedelta(days=days),
                leads.c.test.is_(False),
                leads.c.status != LeadStatus.REJECTED.value,  # screening turned it away
                ~is_call,
            )
            .order_by(leads.c.received_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return Match(row.id, row.vertical, dict(row.fields), row.received_at)


def carried_fields(match: Match | None, own: dict[str, Any]) -> dict[str, Any]:
    """The call's fields with the form's filled in where the call has none (the caller's
    number and IVR answers win: they are the newest)."""
    if match is None:
        return dict(own)
    return {**match.fields, **{k: v for k, v in own.items() if v not in (None, "")}}
