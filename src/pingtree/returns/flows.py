"""An operator's decision on a return, and what follows an approved one once it is
committed: the buyer's funds and, when its terms say so, the lead offered to the other
buyers. The admin API and the console decide through `decide`."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.intake.reoffer import offer_again
from pingtree.returns import service
from pingtree.returns.schemas import ReturnStatus
from pingtree.storage.books import ReturnRow
from pingtree.storage.tables import Sale

if TYPE_CHECKING:
    from pingtree.runtime import Runtime  # the type only

sales = cast(Table, Sale.__table__)
returns = cast(Table, ReturnRow.__table__)


async def decide(
    rt: Runtime, *, return_id: str, approve: bool, actor: str, note: str | None
) -> service.Decided:
    """An operator approves or rejects a pending return; an approval's aftermath follows."""
    decided = await service.decide(
        engine=rt.engine,
        caps=rt.ledger,
        policies=rt.catalog.buyers,
        return_id=return_id,
        approve=approve,
        actor=actor,
        note=note,
        now=rt.clock.now(),
    )
    await after(rt, decided)
    return decided


async def after(rt: Runtime, decided: service.Decided) -> None:
    """The approved return's money back in the buyer's funds; the lead offered again."""
    if decided.status is not ReturnStatus.APPROVED:
        return
    rt.books.funds.spent(decided.buyer, -decided.price)
    if not decided.offer_again:
        return
    holders = await _holders(rt.engine, decided.lead_id)
    if holders:
        return  # a shared lead still held by other buyers stays sold to them
    if await offer_again(rt, decided.lead_id, returned_by=decided.buyer) is not None:
        await service.offered_again(rt.engine, decided.id)


async def _holders(engine: AsyncEngine, lead_id: str) -> frozenset[str]:
    """Buyers that bought the lead and did not have the purchase returned."""
    returned = select(returns.c.sale_id).where(
        returns.c.lead_id == lead_id, returns.c.status == ReturnStatus.APPROVED.value
    )
    async with engine.connect() as conn:
        found = await conn.scalars(
            select(sales.c.buyer).where(
                sales.c.lead_id == lead_id, sales.c.id.not_in(returned), sales.c.test.is_(False)
            )
        )
        return frozenset(found.all())
