"""Reading an append-only table in commit order, exactly once, from a saved cursor.

A row's place is (txid, id). On PostgreSQL txid is the writing transaction's id
(pg_current_xact_id()); ids are handed out before commit, so a row with a lower id can
become visible after a higher one. Every transaction older than the snapshot's xmin has
ended, so a reader that only takes rows with txid below the horizon (xmin) never passes
one that will appear later. SQLite has one writer: txid is 0 and id order is commit order.

An open transaction holds the horizon back, so a reader waits for it to end.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    Text,
    and_,
    bindparam,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.storage import direct
from pingtree.storage.books import RollupCursor
from pingtree.storage.db import dialect_insert_for

cursors = cast(Table, RollupCursor.__table__)
Place = tuple[int, int]
_TEXT, _BIGINT = Text(), BigInteger()


async def claim(conn: AsyncConnection, source: str) -> Place | None:
    """Lock source's cursor for this transaction: its place, or None if another holds it."""
    dialect = conn.dialect.name
    await direct.execute(conn, _create(dialect), {"source": source})
    found = (await direct.execute(conn, _LOCK, {"b_source": source})).one_or_none()
    return None if found is None else (int(found[0]), int(found[1]))


@lru_cache(maxsize=2)
def _create(dialect: str) -> Any:
    """The cursor's row, made at (0, 0) unless it exists: built once per dialect."""
    return dialect_insert_for(dialect)(cursors).values(txid=0, last_id=0).on_conflict_do_nothing()


# Built once (two rolls every books pass): a statement's construction and cache lookup cost
# more than running it.
_LOCK = (
    select(cursors.c.txid, cursors.c.last_id)
    .where(cursors.c.source == bindparam("b_source"))
    .with_for_update(skip_locked=True)
)
_ADVANCE = (
    update(cursors)
    .where(cursors.c.source == bindparam("b_source"))
    .values(txid=bindparam("b_txid"), last_id=bindparam("b_last_id"), rolled_at=bindparam("b_at"))
)


async def place(conn: AsyncConnection, source: str) -> Place:
    """Where source's cursor stands ((0, 0) before its first roll)."""
    row = (
        await conn.execute(
            select(cursors.c.txid, cursors.c.last_id).where(cursors.c.source == source)
        )
    ).one_or_none()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


async def horizon(conn: AsyncConnection) -> int:
    """The lowest transaction id that may still commit rows (every txid below has ended)."""
    if conn.dialect.name != "postgresql":
        return 1  # SQLite rows carry txid 0: all committed rows are readable in id order
    found = await conn.scalar(
        select(func.pg_snapshot_xmin(func.pg_current_snapshot()).cast(_TEXT).cast(_BIGINT))
    )
    assert found is not None
    return int(found)


def after(table: Table, place: Place, below: int) -> ColumnElement[bool]:
    """Rows of table past place, written by transactions below the horizon."""
    return and_(
        tuple_(table.c.txid, table.c.id) > tuple_(place[0], place[1]),
        table.c.txid < below,
    )


def past(table: Table, source: str) -> ColumnElement[bool]:
    """Rows of table that source's cursor has not passed (all rows if it has none yet)."""
    txid = select(cursors.c.txid).where(cursors.c.source == source).scalar_subquery()
    last = select(cursors.c.last_id).where(cursors.c.source == source).scalar_subquery()
    return tuple_(table.c.txid, table.c.id) > tuple_(
        func.coalesce(txid, -1), func.coalesce(last, -1)
    )


async def advance(conn: AsyncConnection, source: str, place: Place, now: datetime) -> None:
    """Move source's cursor to place (in the transaction that used the rows)."""
    moved = {"b_source": source, "b_txid": place[0], "b_last_id": place[1], "b_at": now}
    await direct.execute(conn, _ADVANCE, moved)


def place_of(row: Any) -> Place:
    """The (txid, id) of a row read with those two columns."""
    return int(row.txid), int(row.id)
