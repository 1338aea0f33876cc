"""The postback queue in the database: enqueue, claim what is due, log each try."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from pingtree.storage.books import PostbackDelivery, PostbackRow
from pingtree.webhooks import Webhook

postbacks = cast(Table, PostbackRow.__table__)
deliveries = cast(Table, PostbackDelivery.__table__)
ANSWER_CHARS = 2000
Hooks = Callable[[str, str], Webhook | None]
"""(party, name) -> the webhook configured now: ("publisher", name) or ("buyer", name)."""


class PostbackStatus(StrEnum):
    """Where a postback stands."""

    PENDING = "pending"  # waiting for its (next) try
    DELIVERED = "delivered"  # answered 2xx
    FAILED = "failed"  # every try failed, or its endpoint is gone; an operator may retry it


@dataclass(frozen=True)
class Call:
    """A postback to queue: to whom, for what, and the JSON body."""

    party: str  # publisher or buyer
    name: str
    event: str
    url: str
    lead_id: str | None
    body: dict[str, Any]


async def enqueue(conn: AsyncConnection, calls: Sequence[Call], *, now: datetime) -> None:
    """Queue calls in the caller's transaction: due at once."""
    if not calls:
        return
    await conn.execute(
        postbacks.insert(),
        [
            {
                "id": str(uuid.uuid4()),
                "lead_id": c.lead_id,
                "party": c.party,
                "name": c.name,
                "event": c.event,
                "url": c.url,
                "body": c.body,
                "status": PostbackStatus.PENDING.value,
                "attempts": 0,
                "next_at": now,
                "created_at": now,
                "delivered_at": None,
            }
            for c in calls
        ],
    )


async def due(conn: AsyncConnection, *, now: datetime, limit: int) -> list[Any]:
    """Pending postbacks whose time has come, oldest first."""
    return list(
        (
            await conn.execute(
                select(postbacks)
                .where(
                    postbacks.c.status == PostbackStatus.PENDING.value,
                    postbacks.c.next_at <= now,
                )
                .order_by(postbacks.c.next_at)
                .limit(limit)
            )
        ).all()
    )


async def claim(conn: AsyncConnection, row: Any, *, now: datetime, lease_s: float) -> bool:
    """Take a due postback for one try (no other process sends it meanwhile)."""
    taken = await conn.execute(
        update(postbacks)
        .where(
            postbacks.c.id == row.id,
            postbacks.c.status == PostbackStatus.PENDING.value,
            postbacks.c.next_at == row.next_at,
        )
        .values(next_at=now + timedelta(seconds=lease_s), attempts=postbacks.c.attempts + 1)
    )
    return bool(taken.rowcount == 1)


async def log_try(
    conn: AsyncConnection,
    postback_id: str,
    *,
    at: datetime,
    status_code: int | None,
    duration_ms: float,
    answer: str | None,
    error: str | None,
    then: PostbackStatus,
    next_at: datetime | None,
) -> None:
    """Log one try and set the postback's state after it."""
    await conn.execute(
        deliveries.insert().values(
            postback_id=postback_id,
            at=at,
            status_code=status_code,
            duration_ms=round(duration_ms, 3),
            answer=None if answer is None else answer[:ANSWER_CHARS],
            error=error,
        )
    )
    values: dict[str, Any] = {"status": then.value}
    if then is PostbackStatus.DELIVERED:
        values["delivered_at"] = at
    if next_at is not None:
        values["next_at"] = next_at
    await conn.execute(update(postbacks).where(postbacks.c.id == postback_id).values(values))


async def again(conn: AsyncConnection, postback_id: str, *, now: datetime) -> bool:
    """Send a failed postback again now (an operator's retry)."""
    moved = await conn.execute(
        update(postbacks)
        .where(
            postbacks.c.id == postback_id,
            postbacks.c.status == PostbackStatus.FAILED.value,
        )
        .values(status=PostbackStatus.PENDING.value, next_at=now, attempts=0)
    )
    return bool(moved.rowcount == 1)


async def listed(
    conn: AsyncConnection,
    *,
    lead_id: str | None = None,
    status: str | None = None,
    limit: int = 100,
    id: str | None = None,
) -> list[dict[str, Any]]:
    """Postbacks with their tries, newest first."""
    query = select(postbacks).order_by(postbacks.c.created_at.desc(), postbacks.c.id).limit(limit)
    if id is not None:
        query = query.where(postbacks.c.id == id)
    if lead_id is not None:
        query = query.where(postbacks.c.lead_id == lead_id)
    if status is not None:
        query = query.where(postbacks.c.status == status)
    rows = (await conn.execute(query)).all()
    tries: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if tries:
        found = await conn.execute(
            select(deliveries)
            .where(deliveries.c.postback_id.in_(list(tries)))
            .order_by(deliveries.c.id)
        )
        for d in found:
            tries[d.postback_id].append(
                {
                    "at": d.at,
                    "status_code": d.status_code,
                    "duration_ms": d.duration_ms,
                    "answer": d.answer,
                    "error": d.error,
                }
            )
    return [{**row._mapping, "deliveries": tries[row.id]} for row in rows]


async def counts(conn: AsyncConnection) -> dict[str, int]:
    """How many postbacks are in each state."""
    rows = await conn.execute(select(postbacks.c.status, func.count()).group_by(postbacks.c.status))
    return {str(status): int(n) for status, n in rows}
