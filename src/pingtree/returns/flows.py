"""An operator's decision on a return, and what follows an approved one once it is
committed: the buyer's funds and, when its terms say so, the lead offered to the other
buyers. The admin API and the console decide through `decide`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pingtree.buyers.terms import ReturnPolicy
from pingtree.config.catalog import Catalog
from pingtree.config.history import as_it_was, changes_since
from pingtree.intake.reoffer import offer_again
from pingtree.leads.schemas import LeadStatus
from pingtree.returns import service
from pingtree.returns.schemas import ReturnStatus
from pingtree.storage.books import ReturnRow
from pingtree.storage.tables import Lead, Sale

if TYPE_CHECKING:
    from pingtree.runtime import Runtime  # the type only

leads = cast(Table, Lead.__table__)
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
    if decided.offer_again:
        await _offer(rt, decided.id, decided.lead_id, decided.buyer)


async def _offer(rt: Runtime, return_id: str, lead_id: str, buyer: str) -> bool:
    """The returned lead routed again without buyer, nor any buyer that returned it before
    (sold, returned, offered again, sold and returned again); whether it was."""
    holders, returners = await _look(rt.engine, lead_id)
    if holders:
        return False  # a shared lead still held by other buyers stays sold to them
    offered = await offer_again(rt, lead_id, returned_by=returners | {buyer}, held_by=holders_of)
    if offered is None:
        return False
    await service.offered_again(rt.engine, return_id)
    return True


OFFER_LEFT_WITHIN = timedelta(days=1)
"""How long after its approval a return's lead left unoffered by a crash is still offered."""


async def offer_left_over(rt: Runtime, *, older_than: timedelta) -> int:
    """Leads of approved returns that were to be offered again and were not (the process
    stopped between the approval's commit and the offer): offered now; how many.

    Only returns decided more than older_than ago (another process's offer has ended by
    then) and less than OFFER_LEFT_WITHIN, of buyers whose terms said offer_again when the
    return was decided (terms changed or the buyer removed since: as they were then), whose
    lead is still sold and held by no buyer (a lead offered again and sold before the
    crash has a holder: it is never offered twice)."""
    now = rt.clock.now()
    catalog = rt.catalog
    async with rt.engine.connect() as conn:
        found = (
            await conn.execute(
                select(returns.c.id, returns.c.lead_id, returns.c.buyer, returns.c.decided_at)
                .join(leads, leads.c.id == returns.c.lead_id)
                .where(
                    returns.c.status == ReturnStatus.APPROVED.value,
                    returns.c.offered_again.is_(False),
                    returns.c.decided_at < now - older_than,
                    returns.c.decided_at >= now - OFFER_LEFT_WITHIN,
                    leads.c.status == LeadStatus.SOLD.value,
                )
                .order_by(returns.c.decided_at)
            )
        ).all()
        # The terms in force when each was decided: one read of the changes since the oldest.
        changes = await changes_since(conn, found[0].decided_at) if found else []
    rows = [r for r in found if _offered_again_then(changes, catalog, r.buyer, r.decided_at)]
    return sum([await _offer(rt, row.id, row.lead_id, row.buyer) for row in rows])


def _offered_again_then(
    changes: list[tuple[datetime, dict[str, Any]]],
    catalog: Catalog,
    buyer: str,
    decided_at: datetime,
) -> bool:
    """Whether the buyer's return terms said offer_again when its return was decided."""
    changed, spec = as_it_was(changes, f"buyers/{buyer}", decided_at)
    if not changed:
        now = catalog.buyers.get(buyer)
        return now is not None and now.returns is not None and now.returns.offer_again
    terms = spec.get("returns") if spec is not None else None
    return terms is not None and ReturnPolicy.model_validate(terms).offer_again


async def _look(engine: AsyncEngine, lead_id: str) -> tuple[frozenset[str], frozenset[str]]:
    """Who holds the lead, and who returned it."""
    async with engine.connect() as conn:
        return await holders_of(conn, lead_id), await returned_by(conn, lead_id)


async def returned_by(conn: AsyncConnection, lead_id: str) -> frozenset[str]:
    """Buyers that returned the lead (their return approved)."""
    found = await conn.scalars(
        select(returns.c.buyer).where(
            returns.c.lead_id == lead_id, returns.c.status == ReturnStatus.APPROVED.value
        )
    )
    return frozenset(found.all())


async def holders_of(conn: AsyncConnection, lead_id: str) -> frozenset[str]:
    """Buyers that bought the lead and did not have the purchase returned (on conn)."""
    returned = select(returns.c.sale_id).where(
        returns.c.lead_id == lead_id, returns.c.status == ReturnStatus.APPROVED.value
    )
    found = await conn.scalars(
        select(sales.c.buyer).where(
            sales.c.lead_id == lead_id, sales.c.id.not_in(returned), sales.c.test.is_(False)
        )
    )
    return frozenset(found.all())
