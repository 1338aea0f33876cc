"""Returns: buyers ask (X-Buyer-Key), operators decide (admin API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from pingtree.api.deps import BuyerDep, ReadDep, ReturnsCaller, RuntimeDep
from pingtree.api.storable import StorableTextRoute
from pingtree.intake.errors import refuse
from pingtree.leads.schemas import admin_error_responses, error_responses
from pingtree.returns import flows, service
from pingtree.returns.schemas import (
    DecisionIn,
    OperatorReturnOut,
    RejectionIn,
    ReturnIn,
    ReturnOut,
    ReturnStatus,
)

router = APIRouter(prefix="/api/v1/returns", tags=["buyers"], route_class=StorableTextRoute)
admin = APIRouter(
    prefix="/api/v1/admin/returns",
    tags=["returns"],
    route_class=StorableTextRoute,
    responses=admin_error_responses(),
)
Limit = Annotated[int, Query(ge=1, le=1000)]


def _out(row: Any) -> ReturnOut:
    return ReturnOut.model_validate(row, from_attributes=True)


@router.post(
    "",
    status_code=201,
    response_model=ReturnOut,
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
async def post_return(asked: ReturnIn, rt: RuntimeDep, buyer: BuyerDep) -> ReturnOut:
    """Return a lead you bought, with a reason code, within your return window; approved at
    once if your terms allow, else it waits for an operator."""
    decided = await service.ask(
        engine=rt.engine,
        caps=rt.ledger,
        buyer=buyer,
        lead_id=asked.lead_id,
        reason=asked.reason,
        note=asked.note,
        now=rt.clock.now(),
    )
    await flows.after(rt, decided)
    async with rt.engine.connect() as conn:
        return _out(await service.one(conn, decided.id))


@router.get("", response_model=list[ReturnOut], responses=error_responses(401, 422, 503))
async def list_returns(
    rt: RuntimeDep, buyer: BuyerDep, status: ReturnStatus | None = None, limit: Limit = 100
) -> list[ReturnOut]:
    """Your returns, newest first."""
    async with rt.engine.connect() as conn:
        rows = await service.listed(
            conn, buyer=buyer.name, status=status.value if status else None, limit=limit
        )
    return [_out(row) for row in rows]


@router.get("/{return_id}", response_model=ReturnOut, responses=error_responses(401, 404, 422, 503))
async def get_return(return_id: str, rt: RuntimeDep, buyer: BuyerDep) -> ReturnOut:
    """One of your returns and its decision."""
    async with rt.engine.connect() as conn:
        row = await service.one(conn, return_id)
    if row is None or row.buyer != buyer.name:
        raise refuse(404, "not_found", f"no return {return_id!r} of yours")
    return _out(row)


@admin.get("", response_model=list[OperatorReturnOut], dependencies=[ReadDep])
async def admin_returns(
    rt: RuntimeDep,
    status: ReturnStatus | None = None,
    buyer: Annotated[str | None, Query(max_length=64)] = None,
    lead_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Limit = 100,
) -> list[OperatorReturnOut]:
    """Returns, newest first: status pending is the queue waiting for a decision."""
    async with rt.engine.connect() as conn:
        rows = await service.listed(
            conn,
            buyer=buyer,
            lead_id=lead_id,
            status=status.value if status else None,
            limit=limit,
        )
    return [OperatorReturnOut.model_validate(r, from_attributes=True) for r in rows]


async def _decide(
    rt: RuntimeDep, return_id: str, caller: ReturnsCaller, approve: bool, note: str | None
) -> OperatorReturnOut:
    await flows.decide(rt, return_id=return_id, approve=approve, actor=caller.name, note=note)
    async with rt.engine.connect() as conn:
        row = await service.one(conn, return_id)
    return OperatorReturnOut.model_validate(row, from_attributes=True)


@admin.post("/{return_id}/approve", response_model=OperatorReturnOut)
async def approve_return(
    return_id: str,
    rt: RuntimeDep,
    caller: ReturnsCaller,
    decision: Annotated[DecisionIn | None, Body()] = None,
) -> OperatorReturnOut:
    """Approve a pending return: the sale is reversed in the ledger, and per the buyer's
    terms the payout clawed back, the cap room freed and the lead offered again."""
    return await _decide(rt, return_id, caller, True, decision.note if decision else None)


@admin.post("/{return_id}/reject", response_model=OperatorReturnOut)
async def reject_return(
    return_id: str, rejection: RejectionIn, rt: RuntimeDep, caller: ReturnsCaller
) -> OperatorReturnOut:
    """Reject a pending return, saying why (the buyer's webhook is told)."""
    return await _decide(rt, return_id, caller, False, rejection.note)
