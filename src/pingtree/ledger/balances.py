"""Balances: credits less debits per account, exact at every read.

Summing millions of entries on every read would not do, so a roller adds the entries up
into `ledger_balances` as they commit (storage.cursors: in commit order, each once); a read
adds the entries the roller has not reached yet to the rolled balances, in one statement
(one snapshot), so it is exact however far behind the roller is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import BigInteger, Table, func, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.money import CENT
from pingtree.storage import cursors
from pingtree.storage.books import LedgerBalance, LedgerEntry
from pingtree.storage.db import dialect_insert_for

SOURCE = "ledger"
entries = cast(Table, LedgerEntry.__table__)
balances_table = cast(Table, LedgerBalance.__table__)


def _cents(column: Any) -> Any:
    return type_coerce(column, BigInteger)


async def balances(
    conn: AsyncConnection, accounts: Collection[str] | None = None
) -> dict[str, Decimal]:
    """The balance of each account (every account with an entry when accounts is None)."""
    rolled = select(
        balances_table.c.account.label("account"), _cents(balances_table.c.balance).label("cents")
    )
    tail = cursors.past(entries, SOURCE)
    credits = select(
        entries.c.credit.label("account"), _cents(entries.c.amount).label("cents")
    ).where(tail)
    debits = select(
        entries.c.debit.label("account"), (-_cents(entries.c.amount)).label("cents")
    ).where(tail)
    if accounts is not None:
        wanted = list(accounts)
        if not wanted:
            return {}
        rolled = rolled.where(balances_table.c.account.in_(wanted))
        credits = credits.where(entries.c.credit.in_(wanted))
        debits = debits.where(entries.c.debit.in_(wanted))
    every = union_all(rolled, credits, debits).subquery()
    account = every.c.account
    query = select(account, func.sum(every.c.cents)).group_by(account).order_by(account)
    found = {str(name): Decimal(int(total)) * CENT for name, total in await conn.execute(query)}
    if accounts is not None:
        for name in accounts:
            found.setdefault(name, Decimal(0) * CENT)
    return found


BATCH = 20_000


async def roll(conn: AsyncConnection, *, now: datetime, batch: int = BATCH) -> int | None:
    """Add entries committed since the last roll to the rolled balances (in the caller's
    transaction); how many, or None when another process is rolling."""
    place = await cursors.claim(conn, SOURCE)
    if place is None:
        return None
    below = await cursors.horizon(conn)
    rows = (
        await conn.execute(
            select(entries.c.txid, entries.c.id, entries.c.debit, entries.c.credit)
            .add_columns(_cents(entries.c.amount).label("cents"))
            .where(cursors.after(entries, place, below))
            .order_by(entries.c.txid, entries.c.id)
            .limit(batch)
        )
    ).all()
    if not rows:
        return 0
    moved: dict[str, int] = defaultdict(int)
    for row in rows:
        moved[row.credit] += int(row.cents)
        moved[row.debit] -= int(row.cents)
    insert = dialect_insert_for(conn.dialect.name)
    stmt = insert(balances_table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[balances_table.c.account],
        set_={"balance": balances_table.c.balance + stmt.excluded.balance},
    )
    # One order for every roller, so two never deadlock (only one runs at a time anyway).
    await conn.execute(
        stmt,
        [
            {"account": name, "balance": Decimal(amount) * CENT}
            for name, amount in sorted(moved.items())
        ],
    )
    await cursors.advance(conn, SOURCE, cursors.place_of(rows[-1]), now)
    return len(rows)


__all__ = ["balances", "roll"]
