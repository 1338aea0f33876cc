"""Writing and reading ledger entries. Entries are only ever added, never changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.ledger import accounts
from pingtree.ledger.accounts import EntryKind
from pingtree.storage import direct
from pingtree.storage.books import LedgerEntry

entries = cast(Table, LedgerEntry.__table__)
_INSERT = entries.insert()


@dataclass(frozen=True)
class Entry:
    """Money moving from debit to credit (amount > 0)."""

    kind: EntryKind
    debit: str
    credit: str
    amount: Decimal
    lead_id: str | None = None
    campaign: str | None = None
    memo: str | None = None
    rule: dict[str, Any] | None = None
    actor: str | None = None
    at: datetime | None = None
    """When it happened, if not when it is booked."""
    reference: str | None = None
    """An operator's own reference (a bank transfer's id): unique per kind."""


@dataclass(frozen=True)
class SaleBooking:
    """One sale of a lead, as the ledger books it."""

    campaign: str
    buyer: str
    price: Decimal
    payout: Decimal


def sale_entries(
    *,
    lead_id: str,
    publisher: str,
    sales: Sequence[SaleBooking],
    rule: dict[str, Any] | None,
    actor: str | None = None,
    memo: str | None = None,
    at: datetime | None = None,
) -> list[Entry]:
    """The buyer pays each sale's price; the publisher earns each sale's payout."""
    out: list[Entry] = []
    for sale in sales:
        out.append(
            Entry(
                EntryKind.SALE,
                accounts.buyer(sale.buyer),
                accounts.REVENUE,
                sale.price,
                lead_id,
                sale.campaign,
                memo,
                None,
                actor,
                at,
            )
        )
        out.append(
            Entry(
                EntryKind.PAYOUT,
                accounts.PAYOUTS,
                accounts.publisher(publisher),
                sale.payout,
                lead_id,
                sale.campaign,
                memo,
                rule,
                actor,
                at,
            )
        )
    return out


async def book(conn: AsyncConnection, booked: Sequence[Entry], *, at: datetime) -> None:
    """Add entries in the caller's transaction (an entry of 0.00 moves nothing: left out)."""
    rows = [row(e, at) for e in booked if e.amount > 0]
    if rows:
        await direct.send(conn, _INSERT, rows)


def row(e: Entry, at: datetime) -> dict[str, Any]:
    """The entry as its table row (at: when it is booked)."""
    return {
        "at": e.at or at,
        "kind": e.kind.value,
        "debit": e.debit,
        "credit": e.credit,
        "amount": e.amount,
        "lead_id": e.lead_id,
        "campaign": e.campaign,
        "memo": e.memo,
        "rule": e.rule,
        "actor": e.actor,
        "reference": e.reference,
    }


@dataclass(frozen=True)
class BookedEntry:
    """An entry as read back."""

    id: int
    at: datetime
    kind: str
    debit: str
    credit: str
    amount: Decimal
    lead_id: str | None
    campaign: str | None
    memo: str | None
    rule: dict[str, Any] | None
    actor: str | None
    reference: str | None


async def read(
    conn: AsyncConnection,
    *,
    lead_id: str | None = None,
    account: str | None = None,
    reference: tuple[EntryKind, str] | None = None,
    limit: int = 500,
) -> list[BookedEntry]:
    """Entries of a lead and/or an account, newest first."""
    query = select(
        entries.c.id,
        entries.c.at,
        entries.c.kind,
        entries.c.debit,
        entries.c.credit,
        entries.c.amount,
        entries.c.lead_id,
        entries.c.campaign,
        entries.c.memo,
        entries.c.rule,
        entries.c.actor,
        entries.c.reference,
    )
    if lead_id is not None:
        query = query.where(entries.c.lead_id == lead_id)
    if account is not None:
        query = query.where(or_(entries.c.debit == account, entries.c.credit == account))
    if reference is not None:
        kind, text = reference
        query = query.where(entries.c.kind == kind.value, entries.c.reference == text)
    rows = await conn.execute(query.order_by(entries.c.at.desc(), entries.c.id.desc()).limit(limit))
    return [BookedEntry(**row._mapping) for row in rows]
