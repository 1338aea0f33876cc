"""What each buyer with funds terms may still spend: the routing core's BuyerFunds port.

A fast view in the process, like the cap ledger's room(): the balances are read from the
ledger every few seconds (refresh) and each sale this process records is taken off at
once (spent). Leads sold by other processes since the last refresh are not seen yet, so a
buyer can go below its limit by at most the leads in flight across processes meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.buyers.model import Buyer
from pingtree.ledger import accounts
from pingtree.ledger.balances import balances


class FundsView:
    """Funds left per buyer (balance plus credit limit), for buyers with funds terms."""

    def __init__(self) -> None:
        self._left: dict[str, Decimal] = {}

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
        """Take a sale just recorded off (a negative amount gives a return back)."""
        if buyer in self._left:
            self._left[buyer] -= amount

    async def refresh(self, engine: AsyncEngine, buyers: Mapping[str, Buyer]) -> None:
        """Read the balances of the buyers with funds terms from the ledger."""
        limits = {b.name: b.funds.credit_limit for b in buyers.values() if b.funds is not None}
        async with engine.connect() as conn:
            found = await balances(conn, [accounts.buyer(name) for name in limits])
        self._left = {name: found[accounts.buyer(name)] + limit for name, limit in limits.items()}
