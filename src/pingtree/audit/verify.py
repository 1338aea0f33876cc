"""Verify the chain: recompute every link from the first and name the first broken one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, String, literal_column, select, type_coerce
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pingtree.audit.anchors import Anchor
from pingtree.audit.chain import GENESIS, hash_link, moment
from pingtree.audit.repository import Head, events_table, head, unsealed

PAGE = 20_000

# Each event's time as the chain hashes it (chain.moment), written by the database: parsing
# a million datetimes and formatting them again was a third of verify's time. NULL where the
# stored value is not in the one form these expressions turn into text; such an event's
# time is then read as a datetime and made text in Python, as before (see _moment_at).
_MOMENT_TEXT = {
    # PostgreSQL keeps microseconds; to_char writes years 1 to 9999 as four digits, but
    # would write 44 BC as 0044: outside Python's range it is NULL, never a false match.
    "postgresql": (
        "CASE WHEN occurred_at >= '0001-01-01T00:00:00Z' "
        "AND occurred_at < '10000-01-01T00:00:00Z' "
        "THEN to_char(occurred_at AT TIME ZONE 'UTC', "
        '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\') END'
    ),
    # SQLite holds the text SQLAlchemy wrote: 'YYYY-MM-DD HH:MM:SS.ffffff', in UTC.
    "sqlite": (
        "CASE WHEN occurred_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] "
        "[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]' "
        "THEN substr(occurred_at, 1, 10) || 'T' || substr(occurred_at, 12) || '+00:00' END"
    ),
}


def moment_text(dialect: str) -> ColumnElement[str]:
    """Each event's time as chain.moment writes it, by the database (NULL: read it in Python)."""
    return type_coerce(literal_column(_MOMENT_TEXT.get(dialect, "NULL")), String).label("at")


@dataclass(frozen=True)
class Break:
    """The first link that does not hold, and why."""

    seq: int
    problem: str
    event_id: int | None = None


@dataclass(frozen=True)
class Verdict:
    """What verifying the chain found."""

    links: int
    """Links that were recomputed and held, from the first."""
    end: Head
    """The last link found in the events (seq 0: none)."""
    recorded: Head
    """The head the chain table records."""
    unsealed: int
    anchors: int
    broken: Break | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """Whether every link, the recorded head and every anchor held."""
        return self.broken is None

    def lines(self) -> list[str]:
        """The verdict as `pingtree audit verify` prints it."""
        if self.broken is not None:
            at = self.broken
            event = f" (event {at.event_id})" if at.event_id is not None else ""
            out = [
                f"audit chain BROKEN at link {at.seq}{event}: {at.problem}",
                f"{self.links} link(s) before it hold",
            ]
        else:
            out = [
                f"audit chain intact: {self.links} link(s), head {self.end.seq} {self.end.hash}",
            ]
            if self.anchors:
                out.append(f"{self.anchors} anchor(s) match")
        if self.unsealed:
            out.append(f"{self.unsealed} event(s) not sealed yet (`pingtree audit seal`)")
        return out + self.notes


async def verify(engine: AsyncEngine, *, anchors: Sequence[Anchor] = ()) -> Verdict:
    """Walk the chain from link 1 in pages, recomputing each hash from the one before."""
    wanted = {a.seq for a in anchors}
    seen: dict[int, tuple[str, int]] = {}
    prev, last, last_id = GENESIS, 0, None
    broken: Break | None = None
    c = events_table.c
    # What one link's check reads, in hash_link's order, between the seq and the hash.
    page = (
        select(
            c.seq,
            c.id,
            moment_text(engine.dialect.name),
            c.kind,
            c.lead_id,
            c.actor,
            c.subject,
            c.details,
            c.hash,
        )
        .order_by(c.seq)
        .limit(PAGE)
    )
    async with engine.connect() as conn:
        await _one_snapshot(conn)
        recorded = await head(conn)
        waiting = await unsealed(conn)
        while broken is None:
            rows = (await conn.execute(page.where(c.seq > last))).all()
            if not rows:
                break
            for found, event_id, at, kind, lead_id, actor, subject, details, stored in rows:
                seq = last + 1
                if found != seq:
                    broken = Break(
                        seq,
                        f"link {seq} is missing: the chain goes on at link {found} "
                        "(an event was deleted, or its place changed)",
                    )
                    break
                if at is None:
                    at = await _moment_at(conn, seq)
                    if at is None:
                        broken = Break(
                            seq, "the event's time cannot be read: it was altered", event_id
                        )
                        break
                computed = hash_link(
                    prev, seq, event_id, at, kind, lead_id, actor, subject, details
                )
                if computed != stored:
                    broken = Break(
                        seq,
                        "the event does not hash to its link: it was altered, or moved here "
                        "from another place in the chain",
                        event_id,
                    )
                    break
                if seq in wanted:
                    seen[seq] = (computed, event_id)
                prev, last, last_id = computed, seq, event_id
    end = Head(last, prev)
    if broken is None:
        broken = _against_head(end, recorded, last_id)
    for taken in sorted(anchors, key=lambda a: a.seq):
        problem = _against_anchor(taken, seen, last)
        if problem is not None and (broken is None or problem.seq < broken.seq):
            broken = problem
    return Verdict(
        links=min(last, broken.seq - 1) if broken is not None else last,
        end=end,
        recorded=recorded,
        unsealed=waiting,
        anchors=len(anchors),
        broken=broken,
    )


async def _one_snapshot(conn: AsyncConnection) -> None:
    """Read the head and every page as of one moment: links the running server seals while
    verify reads are then not seen past the head it read (nor taken for tampering)."""
    if conn.dialect.name == "postgresql":
        await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    elif conn.dialect.name == "sqlite":
        # SQLite's driver begins no transaction for a read: each SELECT would see the
        # database as of itself. A deferred BEGIN holds the first read's snapshot (WAL).
        await conn.exec_driver_sql("BEGIN")


async def _moment_at(conn: AsyncConnection, seq: int) -> str | None:
    """The time of the event at link seq read as a datetime, as chain.moment writes it;
    None if it cannot be read (a date Python cannot hold, or not a date at all)."""
    try:
        async with conn.begin_nested():  # a failed read must not end verify's transaction
            at = await conn.scalar(
                select(events_table.c.occurred_at).where(events_table.c.seq == seq)
            )
    except (DBAPIError, ValueError, TypeError, OverflowError):
        return None
    return moment(at) if at is not None else None


def _against_head(end: Head, recorded: Head, last_id: int | None) -> Break | None:
    if end.seq < recorded.seq:
        return Break(
            end.seq + 1,
            f"the chain ends at link {end.seq}, but its head is link {recorded.seq}: "
            "the newest links were removed",
        )
    if end.seq > recorded.seq:
        return Break(
            recorded.seq + 1,
            f"the chain runs on past its head (link {recorded.seq}) to link {end.seq}: "
            "links were added outside the sealer",
        )
    if end.hash != recorded.hash:
        return Break(end.seq, "the last link's hash differs from the head's", last_id)
    return None


def _against_anchor(taken: Anchor, seen: dict[int, tuple[str, int]], last: int) -> Break | None:
    when = f" (taken {taken.taken_at})" if taken.taken_at else ""
    if taken.seq == 0:
        return None
    if taken.seq not in seen:
        if taken.seq > last:
            return Break(
                last + 1,
                f"an anchor{when} names link {taken.seq}, but the chain holds only "
                f"{last} verified link(s): links were removed",
            )
        return None  # past the first break: that break is reported
    computed, event_id = seen[taken.seq]
    if computed != taken.hash:
        return Break(
            taken.seq,
            f"the chain differs from the anchor{when}: it was rewritten from here or before",
            event_id,
        )
    return None
