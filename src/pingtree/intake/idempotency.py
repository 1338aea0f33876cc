"""Idempotency-Key: a repeated request gets the first answer again and never sells twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from pingtree.clock import Clock
from pingtree.intake.errors import refuse
from pingtree.leads.schemas import LeadAnswer, LeadStatus, Reason
from pingtree.storage import direct
from pingtree.storage.tables import IdempotencyKey, Lead

POLL_S = 0.02
keys = cast(Table, IdempotencyKey.__table__)
_CLAIM = keys.insert()
_STORE_ANSWER = (
    update(keys)
    .where(keys.c.publisher == bindparam("b_publisher"), keys.c.key == bindparam("b_key"))
    .values(
        status_code=bindparam("b_status_code", type_=keys.c.status_code.type),
        answer=bindparam("b_answer", type_=keys.c.answer.type),
    )
)


def fingerprint(body: dict[str, Any]) -> str:
    """A hash of the request, to refuse one key reused for a different lead."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def claim(
    conn: AsyncConnection, publisher: str, key: str, lead_id: str, body_hash: str, clock: Clock
) -> None:
    """Claim a key in the same transaction that stores the lead; IntegrityError if taken."""
    await direct.send(
        conn,
        _CLAIM,
        {
            "publisher": publisher,
            "key": key,
            "lead_id": lead_id,
            "fingerprint": body_hash,
            "created_at": clock.now(),
        },
    )


async def first_answer(
    sessions: async_sessionmaker[AsyncSession],
    publisher: str,
    key: str,
    body_hash: str,
    wait_s: float,
) -> tuple[int, LeadAnswer]:
    """The answer given to the first request with this key, waiting while it is routed."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        async with sessions() as session:
            row = await session.get(IdempotencyKey, (publisher, key))
            lead = await session.get(Lead, row.lead_id) if row and row.answer is None else None
        if row is None:
            raise refuse(
                409,
                "idempotency_conflict",
                "the first request with this key failed or was answered busy; retry",
            )
        if row.fingerprint != body_hash:
            raise refuse(
                422, "idempotency_key_reused", "this Idempotency-Key was used for a different lead"
            )
        if row.answer is not None and row.status_code is not None:
            return row.status_code, LeadAnswer.model_validate(row.answer)
        if lead is not None and lead.status != LeadStatus.RECEIVED:
            return 200, answer_of(lead)  # settled by recovery after a crash
        if asyncio.get_running_loop().time() > deadline:
            raise refuse(
                409, "idempotency_in_progress", f"lead {row.lead_id} is still being routed; retry"
            )
        await asyncio.sleep(POLL_S)


def answer_of(lead: Lead) -> LeadAnswer:
    """A stored lead's answer as it stands now."""
    return LeadAnswer(
        lead_id=lead.id,
        status=LeadStatus(lead.status),
        payout=lead.payout,
        redirect_url=lead.redirect_url,
        reasons=[Reason.model_validate(r) for r in lead.reasons or []],
        test=lead.test,
    )


async def store_answer(
    conn: AsyncConnection, publisher: str, key: str, status_code: int, answer: LeadAnswer
) -> None:
    """Keep the answer for repeats (in the caller's transaction)."""
    await direct.send(
        conn,
        _STORE_ANSWER,
        {
            "b_publisher": publisher,
            "b_key": key,
            "b_status_code": status_code,
            "b_answer": answer.model_dump(mode="json"),
        },
    )


async def release(conn: AsyncConnection, publisher: str, key: str, lead_id: str) -> None:
    """Give the key up (the lead that claimed it was answered 503 and never routed): a retry
    with it is taken as a new lead."""
    await conn.execute(
        delete(keys).where(
            keys.c.publisher == publisher, keys.c.key == key, keys.c.lead_id == lead_id
        )
    )


def is_key_conflict(exc: IntegrityError) -> bool:
    """Whether an insert failed because the key was already claimed."""
    text = str(exc.orig).lower()
    return "idempotency_keys" in text or "unique" in text or "duplicate key" in text
