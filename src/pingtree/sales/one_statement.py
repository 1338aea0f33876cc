"""A post's cap hold, journal row and person claim in one PostgreSQL statement.

On PostgreSQL every statement is a round trip, and a transaction adds two (BEGIN, COMMIT):
taking a hold in a transaction (counter, claim, journal row) costs five, and a lead makes
one per post. Data-modifying CTEs do the same work in one statement, run on its own
(autocommit), which PostgreSQL makes atomic:

- `take` adds the lead to the cap window's counter while the window has room (the same
  conditional UPDATE as the transaction path, so caps stay exact: the row lock and the
  re-checked WHERE);
- `claim` claims the person for the buyer, only if room was taken;
- `hold` writes the journal row, only if room was taken and every hash was claimed.

If room was taken but the person is the buyer's already (or only partly claimable), the
statement fails on purpose (a division by zero): PostgreSQL rolls all of it back, and the
caller asks again in a transaction, which names the lead holding the person. Campaigns
with more than one capped window take the transaction path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.money import CENT, cents
from pingtree.storage import direct

ROLLED_BACK = "22012"  # division_by_zero: the statement's own signal to undo itself


class PersonHeld(Exception):
    """Room was there but the person is the buyer's: nothing was taken; ask in a
    transaction to learn who holds it."""


@lru_cache(maxsize=16)
def statement(window: bool, count_capped: bool, budgeted: bool, claim: bool) -> TextClause:
    """The statement for one shape of hold, built once."""
    parts: list[str] = []
    took = "TRUE"
    if window:
        conditions = ["campaign = :campaign", "period = :period", '"window" = :window']
        if count_capped:
            conditions.append("count + 1 <= :cap")
        if budgeted:
            conditions.append("amount + :price <= :budget")
        parts.append(
            "take AS (UPDATE cap_counters SET count = count + 1, amount = amount + :price "
            f"WHERE {' AND '.join(conditions)} RETURNING count, amount)"
        )
        took = "EXISTS (SELECT FROM take)"
    claimed = ":wanted"
    if claim:
        parts.append(
            "claim AS (INSERT INTO buyer_purchases (person_hash, buyer, lead_id, sold_at) "
            "SELECT h, :buyer, :lead_id, :at FROM unnest(CAST(:hashes AS text[])) AS h "
            f"WHERE {took} "
            "ON CONFLICT (person_hash, buyer) DO UPDATE "
            "SET lead_id = excluded.lead_id, sold_at = excluded.sold_at "
            "WHERE buyer_purchases.sold_at < :cutoff OR buyer_purchases.lead_id = :lead_id "
            "RETURNING person_hash)"
        )
        claimed = "(SELECT count(*) FROM claim)"
    parts.append(
        "hold AS (INSERT INTO cap_reservations "
        "(id, campaign, lead_id, price, windows, status, created_at, expires_at) "
        "SELECT :id, :campaign, :lead_id, :price, CAST(:windows AS jsonb), 'held', :at, "
        f":expires WHERE {took} AND {claimed} = :wanted RETURNING id)"
    )
    count, amount = ("(SELECT count FROM take)", "(SELECT amount FROM take)")
    if not window:
        count = amount = "NULL::bigint"
    undo = "NULL::integer"
    if claim:
        # Room taken but the person not wholly claimed (so no hold): undo it all. The
        # divisor is the hold's count, 0 then; a constant 1 / 0 would fail while planning.
        fail = "1 / (SELECT count(*) FROM hold)"
        undo = f"CASE WHEN {took} AND {claimed} < :wanted THEN {fail} END"
        if not window:
            undo = f"CASE WHEN {claimed} > 0 AND {claimed} < :wanted THEN {fail} END"
    return text(
        f"WITH {', '.join(parts)} "
        f"SELECT (SELECT count(*) FROM hold), {count}, {amount}, {undo}, {claimed}"
    )


async def hold(
    engine: AsyncEngine,
    *,
    reservation_id: str,
    campaign: str,
    lead_id: str,
    price: Decimal,
    window: tuple[str, str, int | None, Decimal | None] | None,
    person: tuple[str, list[str], datetime] | None,
    at: datetime,
    expires: datetime,
) -> tuple[bool, tuple[int, Decimal] | None]:
    """(held, the window's counter after it) in one statement.

    window: (period, window, count cap, budget) or None (no capped window).
    person: (buyer, hashes, cutoff) or None. Raises PersonHeld (nothing taken).
    """
    at = at.astimezone(UTC)
    params: dict[str, Any] = {
        "id": reservation_id,
        "campaign": campaign,
        "lead_id": lead_id,
        "price": _cents(price),
        "at": at,
        "expires": expires.astimezone(UTC),
        "windows": json.dumps([list(window[:2])] if window else []),
        "wanted": 0,
    }
    count_capped = budgeted = False
    if window is not None:
        period, key, cap, budget = window
        params.update(period=period, window=key, cap=cap)
        count_capped, budgeted = cap is not None, budget is not None
        if budget is not None:
            params["budget"] = _cents(budget)
    if person is not None:
        buyer, hashes, cutoff = person
        params.update(buyer=buyer, hashes=hashes, cutoff=cutoff.astimezone(UTC))
        params["wanted"] = len(hashes)
    stmt = statement(window is not None, count_capped, budgeted, person is not None)
    try:
        row = (await direct.autocommit(engine, stmt, params)).one_or_none()
        assert row is not None  # its final SELECT answers one row, whatever happened
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == ROLLED_BACK:
            raise PersonHeld from None
        raise
    held = bool(row[0])
    if row[1] is None:
        return held, None
    return held, (int(row[1]), Decimal(int(row[2])) * CENT)


def _cents(value: Decimal) -> int:
    return int(cents(value) / CENT)
