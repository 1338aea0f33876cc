"""Finding leads: by id, by the person (email or phone, through their hash), publisher, buyer,
campaign, status and time; newest first, a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from pingtree.identity import suppression_hash
from pingtree.storage.tables import Lead, LeadPerson, Sale


@dataclass(frozen=True)
class LeadQuery:
    """What the leads looked for have in common; None: any."""

    lead_id: str | None = None
    """A whole id, or its beginning."""
    email: str | None = None
    phone: str | None = None
    publisher: str | None = None
    vertical: str | None = None
    buyer: str | None = None
    """Sold to this buyer."""
    campaign: str | None = None
    """Sold to this campaign."""
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    test: bool | None = None
    """False: real leads only; True: test leads only."""


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this lead, newest first."""

    received_at: datetime
    lead_id: str


def person_hashes(query: LeadQuery) -> list[str] | None:
    """The hashes the person in the query goes by; None when the query names no person.

    An email or phone that cannot be a person's (not valid) matches nobody.
    """
    if query.email is None and query.phone is None:
        return None
    hashes = []
    if query.email is not None:
        hashes.append(suppression_hash("email", query.email))
    if query.phone is not None:
        hashes.append(suppression_hash("phone", query.phone))
    return [h for h in hashes if h is not None]


PEOPLE_LIMIT = 5000
"""The most leads of one person a search looks at (its newest are listed first anyway)."""


def _filtered(
    statement: Select[Lead], query: LeadQuery, people: list[str] | None = None
) -> Select[Lead]:
    if query.lead_id:
        wanted = query.lead_id.strip().lower()
        if len(wanted) >= 36:
            statement = statement.where(Lead.id == wanted)
        else:
            escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            statement = statement.where(Lead.id.like(f"{escaped}%", escape="\\"))
    if people is not None:
        statement = statement.where(Lead.id.in_(people))
    if query.buyer or query.campaign:
        sold = select(Sale.lead_id)
        if query.buyer:
            sold = sold.where(Sale.buyer == query.buyer)
        if query.campaign:
            sold = sold.where(Sale.campaign == query.campaign)
        statement = statement.where(Lead.id.in_(sold))
    for column, value in (
        (Lead.publisher, query.publisher),
        (Lead.vertical, query.vertical),
        (Lead.status, query.status),
    ):
        if value:
            statement = statement.where(column == value)
    if query.since is not None:
        statement = statement.where(Lead.received_at >= query.since)
    if query.until is not None:
        statement = statement.where(Lead.received_at < query.until)
    if query.test is not None:
        statement = statement.where(Lead.test.is_(query.test))
    return statement


async def find_leads(
    session: AsyncSession, query: LeadQuery, *, limit: int = 50, after: Cursor | None = None
) -> tuple[Sequence[Lead], Cursor | None]:
    """A page of matching leads, newest first, and the cursor of the next page (None: last)."""
    # The person's leads first, by their hash: a few ids for the lead query to fetch.
    hashes = person_hashes(query)
    people = None
    if hashes is not None:
        people = list(
            (
                await session.scalars(
                    select(LeadPerson.lead_id)
                    .where(LeadPerson.person_hash.in_(hashes))
                    .limit(PEOPLE_LIMIT)
                )
            ).all()
        )
    statement = _filtered(
        select(Lead).options(
            load_only(
                Lead.publisher,
                Lead.vertical,
                Lead.status,
                Lead.test,
                Lead.received_at,
                Lead.revenue,
                Lead.payout,
                Lead.risk_score,
            )
        ),
        query,
        people,
    )
    if after is not None:
        statement = statement.where(
            or_(
                Lead.received_at < after.received_at,
                and_(Lead.received_at == after.received_at, Lead.id < after.lead_id),
            )
        )
    statement = statement.order_by(Lead.received_at.desc(), Lead.id.desc()).limit(limit + 1)
    rows = (await session.scalars(statement)).all()
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = Cursor(rows[-1].received_at, rows[-1].id)
    return rows, following
