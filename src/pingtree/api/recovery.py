"""Admin API: posts a crash left uncertain, for the operator to reconcile with the buyer."""

from __future__ import annotations

from fastapi import APIRouter, Query

from pingtree import audit
from pingtree.api.deps import ReadDep, ReviewCaller, RuntimeDep
from pingtree.api.storable import StorableTextRoute
from pingtree.leads.schemas import admin_error_responses
from pingtree.recovery import service as recovery
from pingtree.recovery.schemas import Resolution, Resolved, UncertainPost
from pingtree.runtime import Runtime

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    route_class=StorableTextRoute,
    responses=admin_error_responses(),
)


@router.get("/uncertain", response_model=list[UncertainPost], dependencies=[ReadDep])
async def uncertain_posts(
    rt: RuntimeDep, limit: int = Query(default=500, ge=1, le=5000)
) -> list[UncertainPost]:
    """Posts sent before a crash whose answer was never recorded, oldest first."""
    return await recovery.uncertain_posts(engine=rt.engine, catalog=rt.catalog, limit=limit)


# Reconciling with the buyer is a decision like a review's: admins and operators.
@router.post("/uncertain/{reservation_id}", response_model=Resolved)
async def resolve_uncertain(
    reservation_id: str, resolution: Resolution, rt: RuntimeDep, caller: ReviewCaller
) -> Resolved:
    """Book the post as a sale (sold: true; in the ledger, by you) or give its cap room back
    (sold: false)."""
    return await settle(rt, reservation_id, sold=resolution.sold, operator=caller.name)


async def settle(rt: Runtime, reservation_id: str, *, sold: bool, operator: str) -> Resolved:
    """An operator's decision on an uncertain post, from the API or the console."""
    resolved = await recovery.resolve(
        engine=rt.engine,
        ledger=rt.ledger,
        catalog=rt.catalog,
        reservation_id=reservation_id,
        sold=sold,
        actor=audit.operator(operator),
        now=rt.clock.now(),
    )
    await rt.books.refresh_funds()
    return resolved
