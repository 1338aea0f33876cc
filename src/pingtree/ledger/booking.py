"""What operators book by hand: a buyer's credit, a publisher's payment, an adjustment."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.ledger import accounts, entries
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


class ReferenceUsed(ValueError):
    """The reference was booked before as another entry (other accounts or amount)."""


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
    reference: str | None = None,
) -> bool:
    """One entry an operator made (in the caller's transaction); whether it was booked.

    With a reference (a bank transfer's id) booking is safe to repeat: an entry of this
    kind with that reference, the same accounts and amount, is booked once (False the
    next times); with other accounts or another amount it raises ReferenceUsed."""
    if debit == credit:
        raise UnknownAccount("credit", "debit and credit must be two different accounts")
    entry = Entry(kind, debit, credit, amount, memo=memo, actor=actor, reference=reference)
    if reference is None:
        await book(conn, [entry], at=at)
        return True
    found = await entries.read(conn, reference=(kind, reference), limit=1)
    if not found:
        try:
            async with conn.begin_nested():  # the same reference booked at the same moment
                await conn.execute(entries.entries.insert().values(entries.row(entry, at)))
            return True
        except IntegrityError:
            found = await entries.read(conn, reference=(kind, reference), limit=1)
            if not found:
                raise
    [first] = found
    if (first.debit, first.credit, first.amount) != (debit, credit, amount):
        raise ReferenceUsed(
            f"reference {reference!r} was booked as {kind.value} {first.amount} from "
            f"{first.debit} to {first.credit} (entry {first.id}): use another reference"
        )
    return False
