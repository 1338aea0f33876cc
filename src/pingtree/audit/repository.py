"""Every audit query: append events, seal them into the chain, read a lead's events."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from pingtree.audit.chain import GENESIS, canonical_json, link_hash
from pingtree.audit.events import Event
from pingtree.storage import direct
from pingtree.storage.db import dialect_insert
from pingtree.storage.tables import AuditChain, AuditEvent

events_table = cast(Table, AuditEvent.__table__)
chain_table = cast(Table, AuditChain.__table__)

_INSERT = events_table.insert()
_SEAL_ONE = (
    update(events_table)
    .where(events_table.c.id == bindparam("event_id"), events_table.c.seq.is_(None))
    .values(seq=bindparam("link_seq"), hash=bindparam("link_hash"))
)
_SEAL_ARRAYS = text(
    "UPDATE audit_events SET seq = links.seq, hash = links.hash "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:hashes AS text[])) "
    "AS links (id, seq, hash) WHERE audit_events.id = links.id AND audit_events.seq IS NULL"
)
SEAL_BATCH = 100
"""Events linked per transaction: short, so that on SQLite (statements run on the event
loop) a lead never waits long; the loop gets a turn between batches."""


async def append(bind: AsyncConnection | AsyncSession, events: Sequence[Event]) -> None:
    """Add events in the caller's transaction (one statement); they are sealed later."""
    if not events:
        return
    rows = [
        {
            "occurred_at": e.occurred_at,
            "kind": e.kind.value,
            "lead_id": e.lead_id,
            "actor": e.actor[:160],
            "subject": e.subject[:255] if e.subject is not None else None,
            "details": canonical_json(e.details),
        }
        for e in events
    ]
    if isinstance(bind, AsyncConnection):  # a lead's path: straight to the driver
        await direct.send(bind, _INSERT, rows)
    else:
        await bind.execute(_INSERT, rows)


@dataclass(frozen=True)
class Head:
    """The last sealed link: its position and hash (seq 0 and GENESIS: nothing sealed)."""

    seq: int
    hash: str
    sealed_at: datetime | None = None


async def head(bind: AsyncConnection | AsyncSession) -> Head:
    """The chain's head as the chain table records it."""
    row = (await bind.execute(select(chain_table).where(chain_table.c.id == 1))).first()
    if row is None:
        return Head(0, GENESIS)
    return Head(row.seq, row.hash, row.sealed_at)


async def _lock_head(conn: AsyncConnection) -> Head:
    """The head, locked for this transaction: one sealer at a time, across processes."""
    insert = dialect_insert(conn)
    await conn.execute(
        insert(chain_table).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing()
    )
    row = (
        await conn.execute(select(chain_table).where(chain_table.c.id == 1).with_for_update())
    ).one()
    return Head(row.seq, row.hash, row.sealed_at)


async def seal(engine: AsyncEngine, *, now: datetime, batch: int = SEAL_BATCH) -> int:
    """Link every event not yet in the chain, oldest id first; how many were linked.

    The order is fixed here, when each event gets its seq, not by its id: on PostgreSQL an
    event with a lower id may commit after one with a higher id, and is then simply sealed
    in a later pass. `verify` walks seq, so no late commit can ever break the chain.
    """
    sealed, after = 0, 0
    while True:
        if sealed:
            await asyncio.sleep(0)  # leads in flight go on between batches
        async with engine.begin() as conn:
            top = await _lock_head(conn)
            # After the last id this pass sealed: PostgreSQL keeps the sealed rows' entries
            # in the unsealed index until vacuum, and a scan from the start would wade
            # through them on every batch. An id below it that commits meanwhile is sealed
            # by the next pass.
            rows = (
                await conn.execute(
                    select(events_table)
                    .where(events_table.c.seq.is_(None), events_table.c.id > after)
                    .order_by(events_table.c.id)
                    .limit(batch)
                )
            ).all()
            if not rows:
                return sealed
            links: list[tuple[int, int, str]] = []
            seq, prev = top.seq, top.hash
            for row in rows:
                seq += 1
                prev = link_hash(
                    prev,
                    seq=seq,
                    event_id=row.id,
                    occurred_at=row.occurred_at,
                    kind=row.kind,
                    lead_id=row.lead_id,
                    actor=row.actor,
                    subject=row.subject,
                    details=row.details,
                )
                links.append((row.id, seq, prev))
            await _set_links(conn, links)
            await conn.execute(
                update(chain_table)
                .where(chain_table.c.id == 1)
                .values(seq=seq, hash=prev, sealed_at=now)
            )
            sealed += len(rows)
            after = rows[-1].id
        if len(rows) < batch:
            return sealed


async def _set_links(conn: AsyncConnection, links: list[tuple[int, int, str]]) -> None:
    """Set each event's seq and hash. PostgreSQL: one UPDATE for the whole batch, from
    three arrays (one round trip, one cached statement); SQLite, in the process: one UPDATE
    per row."""
    if conn.dialect.name != "postgresql":
        params = [{"event_id": i, "link_seq": s, "link_hash": h} for i, s, h in links]
        await direct.execute(conn, _SEAL_ONE, params)
        return
    ids, seqs, hashes = (list(part) for part in zip(*links, strict=True))
    await conn.execute(_SEAL_ARRAYS, {"ids": ids, "seqs": seqs, "hashes": hashes})


async def unsealed(bind: AsyncConnection | AsyncSession) -> int:
    """How many events wait to be sealed."""
    count = await bind.scalar(
        select(func.count()).select_from(events_table).where(events_table.c.seq.is_(None))
    )
    return int(count or 0)


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored, with its link (seq, hash) once sealed."""

    id: int
    occurred_at: datetime
    kind: str
    lead_id: str | None
    actor: str
    subject: str | None
    details: str
    seq: int | None
    hash: str | None


async def lead_events(bind: AsyncConnection | AsyncSession, lead_id: str) -> list[StoredEvent]:
    """A lead's events, in the order they were written."""
    rows = (
        await bind.execute(
            select(events_table)
            .where(events_table.c.lead_id == lead_id)
            .order_by(events_table.c.id)
        )
    ).all()
    return [StoredEvent(**row._asdict()) for row in rows]


async def links_before(bind: AsyncConnection | AsyncSession, seqs: Sequence[int]) -> dict[int, str]:
    """The hash of the link before each of seqs (GENESIS before the first)."""
    wanted = {s - 1 for s in seqs if s > 1}
    found: dict[int, str] = {0: GENESIS}
    if wanted:
        rows = await bind.execute(
            select(events_table.c.seq, events_table.c.hash).where(
                events_table.c.seq.in_(sorted(wanted))
            )
        )
        found.update({row.seq: row.hash for row in rows})
    return {s: found[s - 1] for s in seqs if s - 1 in found}


async def recent(
    bind: AsyncConnection | AsyncSession,
    *,
    kind: str | None = None,
    subject: str | None = None,
    actor: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[StoredEvent]:
    """The newest events (newest first), optionally of a kind, subject or actor; before: only
    events with a lower id (the next page)."""
    query = select(events_table).order_by(events_table.c.id.desc()).limit(limit)
    for name, value in (("kind", kind), ("subject", subject), ("actor", actor)):
        if value is not None:
            query = query.where(events_table.c[name] == value)
    if before is not None:
        query = query.where(events_table.c.id < before)
    return [StoredEvent(**row._asdict()) for row in (await bind.execute(query)).all()]


async def has_event(bind: AsyncConnection | AsyncSession, lead_id: str, kind: str) -> bool:
    """Whether the lead has an event of this kind."""
    found = await bind.scalar(
        select(events_table.c.id)
        .where(events_table.c.lead_id == lead_id, events_table.c.kind == kind)
        .limit(1)
    )
    return found is not None
