"""Every query about operators: create, list, rotate, revoke, find by token hash."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from pingtree import audit
from pingtree.operators.model import NAME_PATTERN, Operator, OperatorError
from pingtree.operators.roles import Role
from pingtree.operators.tokens import new_token, token_hash
from pingtree.storage.tables import OperatorRow


def _of(row: OperatorRow) -> Operator:
    return Operator(
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        rotated_at=row.rotated_at,
        revoked_at=row.revoked_at,
    )


async def _audited(
    session: AsyncSession, name: str, action: str, *, actor: str, now: datetime, **details: str
) -> None:
    """An account change in the audit trail: who did what to which account."""
    event = audit.Event(
        audit.EventKind.ACCOUNT_CHANGED,
        now,
        actor=actor,
        subject=f"operators/{name}",
        details={"action": action, **details},
    )
    await audit.append(session, [event])


async def create(session: AsyncSession, name: str, role: Role, *, now: datetime, actor: str) -> str:
    """Add an operator; returns its token (shown once, stored only as a hash)."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise OperatorError(
            f"operator name {name!r}: lower-case letters, digits and . _ @ - (up to 64)"
        )
    if await session.get(OperatorRow, name) is not None:
        raise OperatorError(f"operator {name!r} exists (revoked operators keep their name)")
    token = new_token()
    session.add(
        OperatorRow(name=name, role=role.value, token_hash=token_hash(token), created_at=now)
    )
    await session.flush()
    await _audited(session, name, "created", actor=actor, now=now, role=role.value)
    return token


async def all_operators(session: AsyncSession) -> list[Operator]:
    """Every operator, revoked ones included, by name."""
    rows = (await session.scalars(select(OperatorRow).order_by(OperatorRow.name))).all()
    return [_of(row) for row in rows]


async def _active(session: AsyncSession, name: str) -> OperatorRow:
    row = await session.get(OperatorRow, name, with_for_update=True)
    if row is None:
        raise OperatorError(f"no operator {name!r}")
    if row.revoked_at is not None:
        raise OperatorError(f"operator {name!r} is revoked")
    return row


async def rotate(session: AsyncSession, name: str, *, now: datetime, actor: str) -> str:
    """Give an operator a new token; the old one (and its console sessions) stop working."""
    row = await _active(session, name)
    token = new_token()
    row.token_hash = token_hash(token)
    row.rotated_at = now
    await session.flush()
    await _audited(session, name, "token_rotated", actor=actor, now=now)
    return token


async def revoke(session: AsyncSession, name: str, *, now: datetime, actor: str) -> None:
    """Stop an operator's token (and its console sessions) for good; the record stays."""
    row = await _active(session, name)
    row.revoked_at = now
    await session.flush()
    await _audited(session, name, "revoked", actor=actor, now=now)


async def by_token_hash(session: AsyncSession, hashed: str) -> Operator | None:
    """The active operator whose token hashes to this, if any."""
    row = await session.scalar(
        select(OperatorRow).where(
            OperatorRow.token_hash == hashed, OperatorRow.revoked_at.is_(None)
        )
    )
    return None if row is None else _of(row)


async def any_active(session: AsyncSession) -> bool:
    """Whether at least one operator may log in."""
    found = await session.scalar(select(exists().where(OperatorRow.revoked_at.is_(None))))
    return bool(found)
