"""Console sessions kept in the database: opened at login, ended by logout, idle or age.

The browser holds a random id; the database holds only its SHA-256, the hash of the token
that logged in (so rotating or revoking that token ends the session), and two times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from pingtree.operators.tokens import new_session_id, token_hash
from pingtree.storage.tables import ConsoleSession


@dataclass(frozen=True)
class Lifetime:
    """How long a session lives: since its last request (idle) and since login (absolute)."""

    idle: timedelta
    absolute: timedelta

    def expired(self, row: ConsoleSession, now: datetime) -> bool:
        """Whether the session is over at this time."""
        return now >= row.last_seen_at + self.idle or now >= row.created_at + self.absolute


async def open_session(session: AsyncSession, credential_hash: str, *, now: datetime) -> str:
    """Start a session for a caller; returns the id for the cookie (never stored)."""
    session_id = new_session_id()
    session.add(
        ConsoleSession(
            id_hash=token_hash(session_id),
            credential_hash=credential_hash,
            created_at=now,
            last_seen_at=now,
        )
    )
    await session.flush()
    return session_id


async def resume(
    session: AsyncSession,
    session_id: str,
    *,
    now: datetime,
    lifetime: Lifetime,
    active: bool = True,
) -> str | None:
    """The credential hash behind a live session, else None; an expired one is deleted.

    active: the request is the operator's doing, so it restarts the idle time (the
    dashboard's own polling is not, or an open tab would never go idle).
    """
    row = await session.get(ConsoleSession, token_hash(session_id), with_for_update=True)
    if row is None:
        return None
    if lifetime.expired(row, now):
        await session.delete(row)
        return None
    if active:
        row.last_seen_at = now
    return row.credential_hash


async def end(session: AsyncSession, session_id: str) -> None:
    """Delete a session (logout, or a session whose token no longer works)."""
    await session.execute(
        delete(ConsoleSession).where(ConsoleSession.id_hash == token_hash(session_id))
    )


async def purge_expired(session: AsyncSession, *, now: datetime, lifetime: Lifetime) -> int:
    """Delete every expired session; returns how many."""
    result = await session.execute(
        delete(ConsoleSession).where(
            or_(
                ConsoleSession.last_seen_at <= now - lifetime.idle,
                ConsoleSession.created_at <= now - lifetime.absolute,
            )
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
