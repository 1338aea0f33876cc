"""What operators book by hand: a buyer's credit, a publisher's payment, an adjustment."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.ledger import accounts
from pingtree.ledger.accounts import EntryKind
from pingtree.ledger.entries import Entry, book


class UnknownAccount(ValueError):
    """An account the ledger does not keep; the message says which and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def known_account(
    field: str, name: str, *, buyers: Collection[str], publishers: Collection[str]
) -> str:
    """name, if it is a house account or a configured buyer's or publisher's."""
    party = name.partition(":")[2]
    if name in accounts.HOUSE:
        return name
    if name.startswith(accounts.BUYER) and party in buyers:
        return name
    if name.startswith(accounts.PUBLISHER) and party in publishers:
        return name
    house = ", ".join(accounts.HOUSE)
    raise UnknownAccount(
        field, f"no account {name!r}: use {house}, buyer:<name> or publisher:<name> (configured)"
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
