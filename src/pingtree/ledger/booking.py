"""What operators book by hand: a buyer's credit, a publisher's payment, an adjustment."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.ledger import accounts, entries
from pingtree.ledger.accounts import EntryKind
from pingtree.ledger.entries import Entry, book
from pingtree.storage.books import LedgerEntry
from pingtree.storage.db import dialect_insert

ledger_entries = cast(Table, LedgerEntry.__table__)


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
            select(ledger_entries.c.debit).where(ledger_entries.c.debit.in_(wanted)),
            select(ledger_entries.c.credit).where(ledger_entries.c.credit.in_(wanted)),
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
    # Written first, read only when it was there already: the unique index decides between
    # two bookings of one reference at once (no read-then-write for SQLite to refuse).
    added = await conn.execute(
        dialect_insert(conn)(ledger_entries)
        .values(entries.row(entry, at))
        .on_conflict_do_nothing(index_elements=["kind", "reference"])
        .returning(ledger_entries.c.id)
    )
    if added.first() is not None:
        return True
    [first] = await entries.read(conn, reference=(kind, reference), limit=1)
    if (first.debit, first.credit, first.amount) != (debit, credit, amount):
        raise ReferenceUsed(
            f"reference {reference!r} was booked as {kind.value} {first.amount} from "
            f"{first.debit} to {first.credit} (entry {first.id}): use another reference"
        )
    return False


async def book_checked(
    conn: AsyncConnection,
    *,
    buyers: Collection[str],
    publishers: Collection[str],
    kind: EntryKind,
    debit: tuple[str, str],
    credit: tuple[str, str],
    amount: Decimal,
    memo: str | None,
    actor: str,
    at: datetime,
    reference: str | None = None,
) -> bool:
    """book_one once both accounts are known (debit and credit: the field that names each,
    for the error, and the account): a configured party's, a house one, or one the ledger
    keeps. What the admin API and `pingtree ledger` book by hand."""
    held = await kept(conn, [debit[1], credit[1]])
    for field, name in (debit, credit):
        known_account(field, name, buyers=buyers, publishers=publishers, kept=held)
    return await book_one(
        conn,
        kind=kind,
        debit=debit[1],
        credit=credit[1],
        amount=amount,
        memo=memo,
        actor=actor,
        at=at,
        reference=reference,
    )
