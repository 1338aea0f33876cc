"""Every screening query: dedup claims, buyer purchases and suppression lists."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pingtree.storage.db import dialect_insert, dialect_insert_for
from pingtree.storage.tables import BuyerPurchase, DedupEntry, SuppressionEntry

Reader = AsyncSession | AsyncConnection
"""Screening's lookups run on a session or on the connection the lead was stored with."""


async def claim_person(
    session: Reader,
    *,
    vertical: str,
    hashes: Iterable[str],
    lead_id: str,
    now: datetime,
    window: timedelta,
) -> str | None:
    """Claim each identity hash for this lead; the earlier lead's id if the person was seen.

    One INSERT .. ON CONFLICT DO UPDATE .. WHERE seen_at < cutoff per hash: the row lock makes
    it atomic, so of 50 copies arriving at once exactly one claims the person. The caller
    rolls back when a duplicate is found, so a duplicate never refreshes the window.
    """
    insert = dialect_insert(session)
    cutoff = now - window
    for person in sorted(hashes):  # one order everywhere: no deadlock between two claims
        stmt = insert(DedupEntry).values(
            vertical=vertical, person_hash=person, lead_id=lead_id, seen_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[DedupEntry.vertical, DedupEntry.person_hash],
            set_={"lead_id": lead_id, "seen_at": now},
            where=DedupEntry.seen_at < cutoff,
        ).returning(DedupEntry.lead_id)
        claimed = (await session.execute(stmt)).scalar_one_or_none()
        if claimed is None:
            earlier = await session.scalar(
                select(DedupEntry.lead_id).where(
                    DedupEntry.vertical == vertical, DedupEntry.person_hash == person
                )
            )
            return earlier or "unknown"
    return None


async def seen_within(
    session: Reader, *, vertical: str, hashes: Iterable[str], since: datetime
) -> str | None:
    """The lead that last brought this person since a moment, without claiming anything."""
    found: str | None = await session.scalar(
        select(DedupEntry.lead_id)
        .where(
            DedupEntry.vertical == vertical,
            DedupEntry.person_hash.in_(list(hashes)),
            DedupEntry.seen_at >= since,
        )
        .limit(1)
    )
    return found


async def recent_buyers(
    session: Reader, hashes: Iterable[str], since: datetime
) -> dict[str, datetime]:
    """Buyers that bought this person since a moment, with when they last did."""
    rows = await session.execute(
        select(BuyerPurchase.buyer, func.max(BuyerPurchase.sold_at))
        .where(BuyerPurchase.person_hash.in_(list(hashes)), BuyerPurchase.sold_at >= since)
        .group_by(BuyerPurchase.buyer)
    )
    return {buyer: at for buyer, at in rows.all()}


async def record_purchases(
    conn: AsyncConnection,
    *,
    buyers: Iterable[str],
    hashes: Iterable[str],
    lead_id: str,
    now: datetime,
) -> None:
    """Remember that these buyers bought this person now (in the caller's transaction)."""
    insert = dialect_insert_for(conn.dialect.name)
    rows = [
        {"person_hash": h, "buyer": b, "lead_id": lead_id, "sold_at": now}
        for b in buyers
        for h in hashes
    ]
    if not rows:
        return
    stmt = insert(BuyerPurchase).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[BuyerPurchase.person_hash, BuyerPurchase.buyer],
        set_={"lead_id": stmt.excluded.lead_id, "sold_at": stmt.excluded.sold_at},
    )
    await conn.execute(stmt)


async def suppressed_by(session: Reader, hashes: Iterable[str]) -> list[tuple[str, str]]:
    """(scope, owner) of every suppression entry matching one of the hashes."""
    rows = await session.execute(
        select(SuppressionEntry.scope, SuppressionEntry.owner).where(
            SuppressionEntry.value_hash.in_(list(hashes))
        )
    )
    return [(scope, owner) for scope, owner in rows.all()]


async def add_suppressions(
    session: AsyncSession, entries: list[dict[str, str]], *, now: datetime
) -> int:
    """Add entries ({value_hash, scope, owner, kind}); already-listed ones are left alone."""
    insert = dialect_insert(session)
    added = 0
    for start in range(0, len(entries), 5000):
        chunk = [{**e, "added_at": now} for e in entries[start : start + 5000]]
        # Counted by RETURNING: rowcount of an INSERT is -1 with psycopg (SQLAlchemy 2.1).
        result = await session.execute(
            insert(SuppressionEntry)
            .values(chunk)
            .on_conflict_do_nothing()
            .returning(SuppressionEntry.value_hash)
        )
        added += len(result.all())
    return added


async def remove_suppressions(
    session: AsyncSession, value_hashes: list[str], *, scope: str, owner: str
) -> int:
    """Remove entries of one list."""
    result = await session.execute(
        delete(SuppressionEntry).where(
            SuppressionEntry.value_hash.in_(value_hashes),
            SuppressionEntry.scope == scope,
            SuppressionEntry.owner == owner,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def count_suppressions(session: AsyncSession) -> list[tuple[str, str, int]]:
    """How many entries each list (scope, owner) holds."""
    rows = await session.execute(
        select(SuppressionEntry.scope, SuppressionEntry.owner, func.count())
        .group_by(SuppressionEntry.scope, SuppressionEntry.owner)
        .order_by(SuppressionEntry.scope, SuppressionEntry.owner)
    )
    return [(scope, owner, int(n)) for scope, owner, n in rows.all()]
