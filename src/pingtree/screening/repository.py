"""Every screening query: dedup claims, buyer purchases and suppression lists."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pingtree.storage import direct
from pingtree.storage.db import dialect_insert, dialect_insert_for
from pingtree.storage.frozen import frozen
from pingtree.storage.tables import BuyerPurchase, DedupEntry, SuppressionEntry
from pingtree.storage.types import UTCDateTime

Reader = AsyncSession | AsyncConnection
"""Screening's lookups run on a session or on the connection the lead was stored with."""


async def _rows(bind: Reader, statement: Any, params: dict[str, Any]) -> list[Any]:
    """A statement's rows; on a lead's path (a connection) straight to the driver."""
    if isinstance(bind, AsyncConnection):
        return (await direct.execute(bind, statement, params)).rows
    return list((await bind.execute(statement, params)).all())


def _dialect(bind: Reader) -> str:
    if isinstance(bind, AsyncConnection):
        return bind.dialect.name
    return bind.get_bind().dialect.name


@lru_cache(maxsize=32)
def _claim_statement(dialect: str, count: int) -> Any:
    # Built once per shape: constructing the statement costs more than running it.
    rows = [
        {
            "vertical": bindparam("vertical"),
            "person_hash": bindparam(f"h{i}"),
            "lead_id": bindparam("lead_id"),
            "seen_at": bindparam("now", type_=UTCDateTime()),
        }
        for i in range(count)
    ]
    stmt = dialect_insert_for(dialect)(DedupEntry).values(rows)
    upsert = stmt.on_conflict_do_update(
        index_elements=[DedupEntry.vertical, DedupEntry.person_hash],
        set_={"lead_id": bindparam("lead_id"), "seen_at": bindparam("now", type_=UTCDateTime())},
        where=DedupEntry.seen_at < bindparam("cutoff", type_=UTCDateTime()),
    ).returning(DedupEntry.person_hash)
    return frozen(upsert, dialect)  # a multi-row VALUES is compiled per execution otherwise


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

    One INSERT .. ON CONFLICT DO UPDATE .. WHERE seen_at < cutoff for all hashes: the row
    locks make it atomic, so of 50 copies arriving at once exactly one claims the person. A
    hash it could not claim means a duplicate; the caller then rolls back, so a duplicate
    never refreshes the window, not even for its other hashes.
    """
    wanted = sorted(set(hashes))  # one order everywhere: no deadlock between two claims
    stmt = _claim_statement(_dialect(session), len(wanted))
    params: dict[str, Any] = {"vertical": vertical, "lead_id": lead_id, "now": now}
    params.update({f"h{i}": h for i, h in enumerate(wanted)})
    params["cutoff"] = now - window
    claimed = {row[0] for row in await _rows(session, stmt, params)}
    if len(claimed) == len(wanted):
        return None
    taken = [h for h in wanted if h not in claimed]
    found = await _rows(
        session,
        _earlier_statement(len(taken), since=False),
        {"vertical": vertical, **_hash_params(taken)},
    )
    return (found[0][0] if found else None) or "unknown"


def _hash_params(hashes: list[str]) -> dict[str, str]:
    """The hashes as _earlier_statement's parameters (h0, h1, ...)."""
    return {f"h{i}": h for i, h in enumerate(hashes)}


@lru_cache(maxsize=32)
def _earlier_statement(count: int, *, since: bool) -> Any:
    """The lead that holds one of count hashes (since: seen at or after :since); a
    parameter per hash, so that it runs on the driver."""
    stmt = select(DedupEntry.lead_id).where(
        DedupEntry.vertical == bindparam("vertical"),
        DedupEntry.person_hash.in_([bindparam(f"h{i}") for i in range(count)]),
    )
    if since:
        stmt = stmt.where(DedupEntry.seen_at >= bindparam("since", type_=UTCDateTime()))
    return stmt.limit(1)


async def release_person(
    session: Reader, lead_id: str, *, claimed: tuple[str, list[str]] | None = None
) -> None:
    """Forget the same-person claims a lead made (it was rejected after all, or never
    routed), so the person's next lead is not its duplicate.

    claimed: (vertical, hashes) the lead claimed (Screening.claimed), found by their key;
    without it the claims are looked for by lead."""
    stmt = delete(DedupEntry).where(DedupEntry.lead_id == lead_id)
    if claimed is not None:
        vertical, hashes = claimed
        if not hashes:
            return
        stmt = stmt.where(DedupEntry.vertical == vertical, DedupEntry.person_hash.in_(hashes))
    await session.execute(stmt)


async def seen_within(
    session: Reader, *, vertical: str, hashes: Iterable[str], since: datetime
) -> str | None:
    """The lead that last brought this person since a moment, without claiming anything."""
    wanted = list(hashes)
    if not wanted:
        return None
    params = {"vertical": vertical, "since": since, **_hash_params(wanted)}
    found = await _rows(session, _earlier_statement(len(wanted), since=True), params)
    return found[0][0] if found else None


@lru_cache(maxsize=32)
def _lookup_statement(lists: bool, bought: bool, count: int) -> Any:
    # One parameter per hash (h0, h1...), not an expanding IN: built once per shape, and
    # run straight on the driver (storage.direct).
    hashes: list[Any] = [bindparam(f"h{i}") for i in range(count)]
    parts: list[Any] = []
    if lists:
        parts.append(
            select(
                literal("list").label("kind"),
                SuppressionEntry.scope.label("a"),
                SuppressionEntry.owner.label("b"),
                null().label("at"),
            ).where(SuppressionEntry.value_hash.in_(hashes))
        )
    if bought:
        parts.append(
            select(
                literal("bought").label("kind"),
                BuyerPurchase.buyer.label("a"),
                literal("").label("b"),
                func.max(BuyerPurchase.sold_at).label("at"),
            )
            .where(
                BuyerPurchase.person_hash.in_(hashes),
                BuyerPurchase.sold_at >= bindparam("since", type_=UTCDateTime()),
            )
            .group_by(BuyerPurchase.buyer)
        )
    return parts[0] if len(parts) == 1 else union_all(*parts)


async def lookups(
    session: Reader, hashes: list[str], *, lists: bool, bought_since: datetime | None
) -> tuple[list[tuple[str, str]], dict[str, datetime]]:
    """In one round trip: (scope, owner) of matching suppression entries, and the buyers that
    bought this person since bought_since with when they last did."""
    found: list[tuple[str, str]] = []
    bought: dict[str, datetime] = {}
    if not lists and bought_since is None:
        return found, bought
    if not hashes:
        return found, bought
    query = _lookup_statement(lists, bought_since is not None, len(hashes))
    params: dict[str, Any] = {f"h{i}": h for i, h in enumerate(hashes)}
    if bought_since is not None:
        params["since"] = bought_since
    rows = await _rows(session, query, params)
    for kind, a, b, at in rows:
        if kind == "list":
            found.append((a, b))
        else:
            bought[a] = _as_utc(at)
    return found, bought


def _as_utc(value: object) -> datetime:
    # A union forgets the column's type: SQLite hands the time back as naive text.
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def record_purchases(
    conn: AsyncConnection,
    *,
    buyers: Iterable[str],
    hashes: Iterable[str],
    lead_id: str,
    now: datetime,
) -> None:
    """Remember that these buyers bought this person now (in the caller's transaction)."""
    # Sorted, so two transactions touching the same rows lock them in one order.
    rows = [
        {"person_hash": h, "buyer": b, "lead_id": lead_id, "sold_at": now}
        for h in sorted(set(hashes))
        for b in sorted(set(buyers))
    ]
    if rows:
        await direct.send(conn, _purchase_statement(conn.dialect.name), rows)


@lru_cache(maxsize=2)
def _purchase_statement(dialect: str) -> Any:
    stmt = dialect_insert_for(dialect)(BuyerPurchase)
    return stmt.on_conflict_do_update(
        index_elements=[BuyerPurchase.person_hash, BuyerPurchase.buyer],
        set_={"lead_id": stmt.excluded.lead_id, "sold_at": stmt.excluded.sold_at},
    )


@lru_cache(maxsize=16)
def _claim_purchase_statement(dialect: str, count: int) -> Any:
    rows = [
        {
            "person_hash": bindparam(f"h{i}"),
            "buyer": bindparam("buyer"),
            "lead_id": bindparam("lead_id"),
            "sold_at": bindparam("now", type_=UTCDateTime()),
        }
        for i in range(count)
    ]
    stmt = dialect_insert_for(dialect)(BuyerPurchase).values(rows)
    upsert = stmt.on_conflict_do_update(
        index_elements=[BuyerPurchase.person_hash, BuyerPurchase.buyer],
        set_={"lead_id": bindparam("lead_id"), "sold_at": bindparam("now", type_=UTCDateTime())},
        where=(BuyerPurchase.sold_at < bindparam("cutoff", type_=UTCDateTime()))
        | (BuyerPurchase.lead_id == bindparam("lead_id")),
    ).returning(BuyerPurchase.person_hash)
    return frozen(upsert, dialect)  # a multi-row VALUES is compiled per execution otherwise


async def claim_purchase(
    conn: AsyncConnection,
    *,
    buyer: str,
    hashes: Iterable[str],
    lead_id: str,
    now: datetime,
    window: timedelta,
) -> str | None:
    """Claim the person for this buyer and lead; the lead holding it if the buyer has it.

    One INSERT .. ON CONFLICT DO UPDATE .. WHERE sold_at < cutoff for all hashes, as in
    claim_person: of any number of leads at once, one claims the person. The caller rolls
    back when a hash could not be claimed.
    """
    wanted = sorted(set(hashes))  # one order everywhere: no deadlock between two claims
    stmt = _claim_purchase_statement(conn.dialect.name, len(wanted))
    params: dict[str, Any] = {"buyer": buyer, "lead_id": lead_id, "now": now}
    params.update({f"h{i}": h for i, h in enumerate(wanted)})
    params["cutoff"] = now - window
    claimed = {row[0] for row in await _rows(conn, stmt, params)}
    if len(claimed) == len(wanted):
        return None
    holder = await conn.scalar(
        select(BuyerPurchase.lead_id).where(
            BuyerPurchase.buyer == buyer,
            BuyerPurchase.person_hash.in_([h for h in wanted if h not in claimed]),
        )
    )
    return holder or "unknown"


async def release_unbought(
    conn: AsyncConnection, *, hashes: Iterable[str], lead_id: str, bought: Iterable[str]
) -> None:
    """Give back the claims a lead made on its person for buyers that did not buy it."""
    buyers = sorted(set(bought))
    params = [
        {"hash": h, "lead_id": lead_id} | {f"b{i}": b for i, b in enumerate(buyers)}
        for h in sorted(set(hashes))
    ]
    if params:
        await direct.send(conn, _release_unbought_statement(len(buyers)), params)


@lru_cache(maxsize=8)
def _release_unbought_statement(bought: int) -> Any:
    """The DELETE of one hash's claims by a lead, but those of `bought` buyers (a parameter
    each, so that the statement runs on the driver: a lead's record runs it)."""
    stmt = delete(BuyerPurchase).where(
        BuyerPurchase.person_hash == bindparam("hash"),  # the key's prefix
        BuyerPurchase.lead_id == bindparam("lead_id"),
    )
    if bought:
        stmt = stmt.where(BuyerPurchase.buyer.not_in([bindparam(f"b{i}") for i in range(bought)]))
    return stmt


async def release_claim(
    conn: AsyncConnection, *, hashes: Iterable[str], lead_id: str, buyer: str
) -> None:
    """Give back one buyer's claim on a lead's person (its post turned out not sold)."""
    await conn.execute(
        delete(BuyerPurchase).where(
            BuyerPurchase.person_hash.in_(sorted(set(hashes))),
            BuyerPurchase.buyer == buyer,
            BuyerPurchase.lead_id == lead_id,
        )
    )


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
