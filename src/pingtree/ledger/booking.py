"""What operators book by hand: a buyer's credit, a publisher's payment, an adjustment."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.ledger import accounts
from pingtree.ledger.accounts import EntryKind
from pingtree.ledger.entries import Entry, book
from pingtree.storage.books import LedgerEntry

entries = cast(Table, LedgerEntry.__table__)


class UnknownAccount(ValueError):
    """An account the ledger does not keep; the message says which and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


async def kept(conn: AsyncConnection, names: Collection[str]) -> set[str]:
    """Those of the accounts names the ledger has entries for: a buyer's or publisher's
    removed from the configuration since keeps its account, and what it is owed or owes."""
    wanted = list(names)
    found = await conn.scalars(
        union(
            select(entries.c.debit).where(entries.c.debit.in_(wanted)),
            select(entries.c.credit).where(entries.c.credit.in_(wanted)),
        )
    )
    return set(found.all())


def known_account(
    field: str,
    name: str,
    *,
    buyers: Collection[str],
    publishers: Collection[str],
    kept: Collection[str] = (),
) -> str:
    """name, if it is a house account, a configured buyer's or publisher's, or one the
    ledger keeps (kept: of a buyer or publisher removed from the configuration since)."""
    party = name.partition(":")[2]
    if name in accounts.HOUSE or name in kept:
        return name
    if name.startswith(accounts.BUYER) and party in buyers:
        return name
    if name.startswith(accounts.PUBLISHER) and party in publishers:
        return name
    house = ", ".join(accounts.HOUSE)
    raise UnknownAccount(
        field,
        f"no account {name!r}: use {house}, buyer:<name> or publisher:<name> (configured, "
        "or with entries)",
    )


async def book_one(
    conn: AsyncConnection,
    *,
    kind: EntryKind,
    debit: str,
    credit: str,
    amount: Decimal,
    memo: str | None,
    actor: str,
    at: datetime,
) -> None:
    """One entry an operator made (in the caller's transaction)."""
    if debit == credit:
        raise UnknownAccount("credit", "debit and credit must be two different accounts")
    entry = Entry(kind, debit, credit, amount, memo=memo, actor=actor)
    await book(conn, [entry], at=at)
