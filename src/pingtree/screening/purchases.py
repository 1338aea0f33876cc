"""A buyer's dedup window, exact under concurrency: the person is claimed before the post.

Screening skips buyers that bought the person lately, but leads of the same person
screened at once all pass that check. So just before a post, the (buyer, person) rows
are claimed in one short transaction (a conditional upsert, as for the same-person
claim): one lead gets them, the others are turned to other buyers. A claim is the
purchase row itself: when the lead is recorded, kept (and refreshed) for the buyers that
bought, given back for the others (repository.release_unbought, in the same transaction).
If the process dies in between, the claim stays, as a purchase that may have happened:
the buyer may miss the person, never buy it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.screening import repository
from pingtree.storage.db import retrying


class SqlBuyerPurchases:
    """Buyer purchase claims in the database (routing.ports.BuyerPurchases)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(
        self, *, buyer: str, days: int, people: Sequence[str], lead_id: str, at: datetime
    ) -> str | None:
        """None when the person is now this lead's for the buyer; else the lead holding it."""

        async def attempt() -> str | None:
            async with self.engine.connect() as conn, conn.begin() as txn:
                holder = await repository.claim_purchase(
                    conn,
                    buyer=buyer,
                    hashes=people,
                    lead_id=lead_id,
                    now=at,
                    window=timedelta(days=days),
                )
                if holder is not None:
                    await txn.rollback()  # a partial claim leaves no trace
                return holder

        return await retrying(attempt)
