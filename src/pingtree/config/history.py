"""The configuration's history: each applied change, the version it made, who made it.

`record_change` writes a change down. The configuration store calls it for every write it
makes (`apply`, the admin API, the console, key rotation), in the transaction that made the
change, next to the audit trail's events: both land or none, and no way of changing the
configuration is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pingtree.credentials.at_rest import redact
from pingtree.storage.tables import ConfigChange, ConfigState


class Source(StrEnum):
    """Where a configuration change was made."""

    CONSOLE = "console"
    API = "api"
    CLI = "cli"
    """`pingtree apply`, `pingtree secrets rotate-key`: the operator is the system's user."""
    SYSTEM = "system"
    """The engine itself (the demo's setup, a test's fixture)."""


@dataclass(frozen=True)
class Change:
    """One applied change as the history shows it."""

    id: int
    version: int
    operator: str
    source: str
    changed_at: datetime
    lines: list[str]
    before: dict[str, Any]
    after: dict[str, Any]


async def record_change(
    session: AsyncSession,
    *,
    operator: str,
    source: str,
    now: datetime,
    lines: Sequence[str],
    before: dict[str, dict[str, Any] | None],
    after: dict[str, dict[str, Any] | None],
) -> int:
    """Write down an applied change (in the caller's transaction); returns the version it made.

    before/after: each changed resource's stored spec by `kind/name` (None: absent). Secrets
    are kept only as stored (encrypted or referenced), never in clear.
    """
    version = int(await session.scalar(select(ConfigState.version).where(ConfigState.id == 1)) or 0)
    session.add(
        ConfigChange(
            version=version,
            operator=operator[:64],
            source=source,
            changed_at=now,
            lines=list(lines),
            before=_redacted(before),
            after=_redacted(after),
        )
    )
    await session.flush()
    return version


def _redacted(specs: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    return {
        label: None if spec is None else redact(label.split("/", 1)[0], spec)
        for label, spec in specs.items()
    }


async def changes(
    session: AsyncSession, *, limit: int = 50, before_id: int | None = None
) -> list[Change]:
    """The newest changes first (before_id: older than that change, for the next page)."""
    query = select(ConfigChange).order_by(ConfigChange.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(ConfigChange.id < before_id)
    rows = (await session.scalars(query)).all()
    return [
        Change(
            id=r.id,
            version=r.version,
            operator=r.operator,
            source=r.source,
            changed_at=r.changed_at,
            lines=list(r.lines),
            before=dict(r.before),
            after=dict(r.after),
        )
        for r in rows
    ]


async def change_count(session: AsyncSession) -> int:
    """How many changes are recorded."""
    return int(await session.scalar(select(func.count(ConfigChange.id))) or 0)


async def last_configured(conn: AsyncConnection, kind: str, name: str) -> dict[str, Any] | None:
    """The stored spec (secrets redacted) a resource of kind ('buyers', 'campaigns', ...) had
    when last configured; None if the history never held it. For a resource removed from the
    configuration since a stored row named it: a return, an uncertain post."""
    label = f"{kind}/{name}"
    found = await conn.scalars(
        select(ConfigChange.before)
        .where(cast(ConfigChange.before, Text).like(f'%"{label}"%'))
        .order_by(ConfigChange.id.desc())
    )
    for before in found:
        spec = before.get(label)  # None: another name LIKE matched, or the change added it
        if spec is not None:
            return dict(spec)
    return None


async def changes_since(
    conn: AsyncConnection, at: datetime, *, naming: str | None = None
) -> list[tuple[datetime, dict[str, Any]]]:
    """Each change applied after `at`, oldest first: when, and the stored spec each resource
    it changed had before it, by `kind/name` (None: it did not exist). naming: only the
    changes whose text names that `kind/name` (LIKE: as_it_was checks the exact key)."""
    query = select(ConfigChange.changed_at, ConfigChange.before).where(ConfigChange.changed_at > at)
    if naming is not None:
        query = query.where(cast(ConfigChange.before, Text).like(f'%"{naming}"%'))
    found = await conn.execute(query.order_by(ConfigChange.id))
    return [(row.changed_at, dict(row.before)) for row in found]


def as_it_was(
    changes: Sequence[tuple[datetime, dict[str, Any]]], label: str, at: datetime
) -> tuple[bool, dict[str, Any] | None]:
    """From changes_since(t) for a t before `at`: whether the resource `label` (`kind/name`)
    was changed after `at`, and if so the spec it had then (None: it did not exist then).
    Not changed since: it is as configured now."""
    for changed_at, before in changes:
        if changed_at > at and label in before:
            spec = before[label]
            return True, dict(spec) if spec is not None else None
    return False, None


async def configured_at(
    conn: AsyncConnection, kind: str, name: str, at: datetime
) -> tuple[bool, dict[str, Any] | None]:
    """as_it_was for one resource, reading only the changes that name it."""
    label = f"{kind}/{name}"
    return as_it_was(await changes_since(conn, at, naming=label), label, at)
