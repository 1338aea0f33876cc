"""The ledger in the admin API: balances, entries, credits, payments, adjustments, postbacks;
and a buyer's own balance."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from pingtree.api.deps import BookCaller, BuyerDep, ReadDep, ReturnsDep, RuntimeDep
from pingtree.api.storable import StorableTextRoute
from pingtree.intake.errors import refuse
from pingtree.leads.schemas import admin_error_responses, error_responses
from pingtree.ledger import accounts, entries
from pingtree.ledger.accounts import EntryKind
from pingtree.ledger.balances import balances
from pingtree.ledger.booking import ReferenceUsed, UnknownAccount, book_checked
from pingtree.ledger.schemas import (
    AdjustmentIn,
    Balances,
    BuyerBalance,
    CreditIn,
    EntryOut,
    OwnFunds,
    PaymentIn,
    PublisherBalance,
)
from pingtree.money import ZERO
from pingtree.postbacks import queue
from pingtree.postbacks.queue import PostbackStatus
from pingtree.postbacks.schemas import PostbackOut
from pingtree.runtime import Runtime

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["ledger"],
    route_class=StorableTextRoute,
    responses=admin_error_responses(),
)
own = APIRouter(prefix="/api/v1", tags=["buyers"], route_class=StorableTextRoute)
Limit = Annotated[int, Query(ge=1, le=5000)]


@router.get("/balances", response_model=Balances, dependencies=[ReadDep])
async def all_balances(rt: RuntimeDep) -> Balances:
    """Each buyer's balance and funds left, what each publisher is owed, the house accounts."""
    async with rt.engine.connect() as conn:
        found = await balances(conn)
    buyers = sorted(
        {a.removeprefix(accounts.BUYER) for a in found if a.startswith(accounts.BUYER)}
        | set(rt.catalog.buyers)
    )
    publishers = sorted(
        {a.removeprefix(accounts.PUBLISHER) for a in found if a.startswith(accounts.PUBLISHER)}
        | set(rt.catalog.publishers)
    )
    zero = ZERO
    return Balances(
        buyers=[_buyer_balance(rt, name, found.get(accounts.buyer(name), zero)) for name in buyers],
        publishers=[
            PublisherBalance(publisher=name, payable=found.get(accounts.publisher(name), zero))
            for name in publishers
        ],
        house={name: found.get(name, zero) for name in accounts.HOUSE},
    )


def _buyer_balance(rt: Runtime, name: str, balance: Decimal) -> BuyerBalance:
    buyer = rt.catalog.buyers.get(name)
    limit = buyer.funds.credit_limit if buyer is not None and buyer.funds is not None else None
    left = balance + limit if limit is not None else None
    return BuyerBalance(buyer=name, balance=balance, credit_limit=limit, funds_left=left)


@router.get("/ledger", response_model=list[EntryOut], dependencies=[ReadDep])
async def ledger_entries(
    rt: RuntimeDep,
    lead_id: Annotated[str | None, Query(max_length=36)] = None,
    account: Annotated[str | None, Query(max_length=80)] = None,
    limit: Limit = 500,
) -> list[EntryOut]:
    """Ledger entries, newest first: of a lead, of an account (buyer:<name>...), or all."""
    async with rt.engine.connect() as conn:
        found = await entries.read(conn, lead_id=lead_id, account=account, limit=limit)
    return [EntryOut.model_validate(e, from_attributes=True) for e in found]


async def _book(
    rt: Runtime,
    caller: BookCaller,
    response: Response,
    *,
    kind: EntryKind,
    debit: tuple[str, str],
    credit: tuple[str, str],
    amount: Decimal,
    memo: str | None,
    reference: str | None,
) -> list[EntryOut]:
    try:
        async with rt.engine.begin() as conn:
            booked = await book_checked(
                conn,
                buyers=rt.catalog.buyers,
                publishers=rt.catalog.publishers,
                kind=kind,
                debit=debit,
                credit=credit,
                amount=amount,
                memo=memo,
                actor=caller.name,
                at=rt.clock.now(),
                reference=reference,
            )
    except UnknownAccount as exc:
        raise refuse(422, "invalid_account", str(exc), exc.field) from None
    except ReferenceUsed as exc:
        raise refuse(409, "reference_used", str(exc), "reference") from None
    if booked:
        await rt.books.refresh_funds()
    else:
        response.status_code = 200  # booked before: this is a retry
    async with rt.engine.connect() as conn:
        if reference is not None:
            latest = await entries.read(conn, reference=(kind, reference), limit=1)
        else:
            latest = await entries.read(conn, account=credit[1], limit=1)
    return [EntryOut.model_validate(e, from_attributes=True) for e in latest]


_BOOKED: dict[int | str, dict[str, Any]] = {
    200: {"description": "booked before with this reference: nothing new booked"}
}


@router.post("/ledger/credits", response_model=list[EntryOut], status_code=201, responses=_BOOKED)
async def credit_buyer(
    credit: CreditIn, rt: RuntimeDep, caller: BookCaller, response: Response
) -> list[EntryOut]:
    """Funds a buyer paid in: its balance (and funds left) go up."""
    return await _book(
        rt,
        caller,
        response,
        kind=EntryKind.CREDIT,
        debit=("buyer", accounts.CASH),
        credit=("buyer", accounts.buyer(credit.buyer)),
        amount=credit.amount,
        memo=credit.memo,
        reference=credit.reference,
    )


@router.post("/ledger/payments", response_model=list[EntryOut], status_code=201, responses=_BOOKED)
async def pay_publisher(
    payment: PaymentIn, rt: RuntimeDep, caller: BookCaller, response: Response
) -> list[EntryOut]:
    """Money paid out to a publisher: what it is owed goes down."""
    return await _book(
        rt,
        caller,
        response,
        kind=EntryKind.PAYMENT,
        debit=("publisher", accounts.publisher(payment.publisher)),
        credit=("publisher", accounts.CASH),
        amount=payment.amount,
        memo=payment.memo,
        reference=payment.reference,
    )


@router.post(
    "/ledger/adjustments", response_model=list[EntryOut], status_code=201, responses=_BOOKED
)
async def adjust(
    adjustment: AdjustmentIn, rt: RuntimeDep, caller: BookCaller, response: Response
) -> list[EntryOut]:
    """Move money between two accounts, with the reason (entries are never edited)."""
    return await _book(
        rt,
        caller,
        response,
        kind=EntryKind.ADJUSTMENT,
        debit=("debit", adjustment.debit),
        credit=("credit", adjustment.credit),
        amount=adjustment.amount,
        memo=adjustment.memo,
        reference=adjustment.reference,
    )


@router.get("/postbacks", response_model=list[PostbackOut], dependencies=[ReadDep])
async def postbacks(
    rt: RuntimeDep,
    status: PostbackStatus | None = None,
    lead_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[PostbackOut]:
    """Postbacks and webhook calls, newest first, each with every try and its answer."""
    async with rt.engine.connect() as conn:
        found = await queue.listed(
            conn, lead_id=lead_id, status=status.value if status else None, limit=limit
        )
    return [PostbackOut.model_validate(p) for p in found]


@router.post(
    "/postbacks/{postback_id}/retry",
    response_model=PostbackOut,
    dependencies=[ReturnsDep],
)
async def retry_postback(postback_id: str, rt: RuntimeDep) -> PostbackOut:
    """Send a failed postback again (now, with its tries counted afresh)."""
    async with rt.engine.begin() as conn:
        if not await queue.again(conn, postback_id, now=rt.clock.now()):
            raise refuse(404, "not_found", f"no failed postback {postback_id!r}")
        (found,) = [p for p in await queue.listed(conn, limit=1, id=postback_id)]
    return PostbackOut.model_validate(found)


@own.get("/funds", response_model=OwnFunds, responses=error_responses(401, 503))
async def own_funds(rt: RuntimeDep, buyer: BuyerDep) -> OwnFunds:
    """Your balance: funds credited less leads bought, plus approved returns."""
    async with rt.engine.connect() as conn:
        found = await balances(conn, [accounts.buyer(buyer.name)])
    out = _buyer_balance(rt, buyer.name, found[accounts.buyer(buyer.name)])
    return OwnFunds.model_validate(out.model_dump())
