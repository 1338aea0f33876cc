"""What the books say after a fault: sales, open holds, cap counters and stuck leads."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.simulator import RunningSimulator
from pingtree.storage.tables import AttemptRow, CapCounter, CapReservation, Lead, Sale


@dataclass
class Books:
    """One campaign's side of the books."""

    sold: set[str]  # lead ids with a sale to the campaign
    uncertain: set[str]  # lead ids with an uncertain post to the campaign
    open_holds: int  # held or uncertain reservations (count against the cap)
    held: int  # reservations still held (a lead being routed, or not yet recovered)
    counter: int  # the campaign's cap counter, summed over its windows
    statuses: dict[str, int]  # leads by status
    gave_up: set[str]  # lead ids whose post to the campaign timed out on our side


async def read_books(engine: AsyncEngine, campaign: str) -> Books:
    """The books of one campaign, read straight from the database."""
    async with engine.connect() as conn:
        sold = set(
            (
                await conn.scalars(
                    select(Sale.lead_id).where(Sale.campaign == campaign, Sale.test.is_(False))
                )
            ).all()
        )
        rows = (
            await conn.execute(
                select(CapReservation.lead_id, CapReservation.status).where(
                    CapReservation.campaign == campaign,
                    CapReservation.status.in_(["held", "uncertain"]),
                )
            )
        ).all()
        counter = await conn.scalar(
            select(func.coalesce(func.sum(CapCounter.count), 0)).where(
                CapCounter.campaign == campaign
            )
        )
        gave_up = set(
            (
                await conn.scalars(
                    select(AttemptRow.lead_id).where(
                        AttemptRow.campaign == campaign,
                        AttemptRow.kind == "post",
                        AttemptRow.outcome == "timeout",
                    )
                )
            ).all()
        )
        statuses = dict(
            (await conn.execute(select(Lead.status, func.count()).group_by(Lead.status))).all()
        )
    return Books(
        sold=sold,
        uncertain={lead for lead, status in rows if status == "uncertain"},
        open_holds=len(rows),
        held=sum(1 for _, status in rows if status == "held"),
        counter=int(counter or 0),
        statuses={str(k): int(v) for k, v in statuses.items()},
        gave_up=gave_up,
    )


def accepted_by(sim: RunningSimulator, buyer: str) -> set[str]:
    """Lead ids whose post the simulated buyer decided to accept (answer sent or not)."""
    return {
        r.body["lead_id"]
        for r in sim.received(buyer)
        if r.kind == "post" and r.outcome == "accepted"
    }


def check_books(books: Books, accepted: set[str]) -> None:
    """Nothing lost or stuck, and the cap counter equal to sales plus open holds.

    A post that timed out on our side is recorded as such: the buyer's late accept is not a
    sale (the tree moved on), so those leads are left out.
    """
    unbooked = accepted - books.gave_up - books.sold - books.uncertain
    print(  # the figures, for a run with -s
        f"accepted by the buyer {len(accepted)}, booked sold {len(books.sold)}"
        f" + uncertain {len(books.uncertain)}, timed out {len(books.gave_up)},"
        f" unbooked {len(unbooked)},"
        f" leads {books.statuses}, counter {books.counter} vs sales + open holds"
        f" {len(books.sold) + books.open_holds}"
    )
    assert not unbooked, f"{len(unbooked)} sales the buyer accepted are not in the books"
    assert books.sold <= accepted  # nothing booked that the buyer never took
    assert books.statuses.get("received", 0) == 0, books.statuses
    assert books.counter == len(books.sold) + books.open_holds
