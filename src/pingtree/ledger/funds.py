"""What each buyer with funds terms may still spend: the routing core's BuyerFunds port.

A fast view in the process, like the cap ledger's room(): the balances are read from the
ledger every few seconds (refresh) and each sale this process records is taken off at
once (sold). A sale reaches the ledger when the roller takes in its lead event; until then
this process keeps taking its own sales off. Sales of other processes are seen once
rolled, so a buyer can go below its limit by what they sold in the meantime (a few
seconds: PINGTREE_BOOKS_POLL_S).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.buyers.model import Buyer
from pingtree.ledger import accounts
from pingtree.ledger.balances import balances
from pingtree.storage import cursors
from pingtree.storage.cursors import Place

EVENTS = "lead_events"
"""The lead events' roller (reporting.rollups.SOURCE), which books sales in the ledger."""


class FundsView:
    """Funds left per buyer (balance plus credit limit), for buyers with funds terms."""

    def __init__(self) -> None:
        self._left: dict[str, Decimal] = {}
        self._unbooked: list[tuple[Place, str, Decimal]] = []

    def short(self, buyer: str, price: Decimal) -> str | None:
        """None when the buyer's funds cover price (or are not checked), else why not."""
        left = self._left.get(buyer)
        if left is None or (left > 0 and left >= price):
            return None
        return f"funds left {left}, price {price}"

    def left(self, buyer: str) -> Decimal | None:
        """The buyer's funds left, None when its funds are not checked."""
        return self._left.get(buyer)

    def spent(self, buyer: str, amount: Decimal) -> None:
        """Take an amount off at once (a negative amount gives a return back)."""
        if buyer in self._left:
            self._left[buyer] -= amount

    def sold(self, buyer: str, price: Decimal, event: Place | None) -> None:
        """A sale this process recorded, its lead event at event: off the funds until it is
        in the ledger."""
        if buyer in self._left:
            self._left[buyer] -= price
            if event is not None:
                self._unbooked.append((event, buyer, price))

    async def refresh(self, engine: AsyncEngine, buyers: Mapping[str, Buyer]) -> None:
        """Read the balances of the buyers with funds terms from the ledger."""
        limits = {b.name: b.funds.credit_limit for b in buyers.values() if b.funds is not None}
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # both reads from one snapshot
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                found = await balances(conn, [accounts.buyer(name) for name in limits])
                rolled = await cursors.place(conn, EVENTS)
        self._unbooked = [sale for sale in self._unbooked if sale[0] > rolled]
        left = {name: found[accounts.buyer(name)] + limit for name, limit in limits.items()}
        for _, buyer, price in self._unbooked:
            if buyer in left:
                left[buyer] -= price
        self._left = left
