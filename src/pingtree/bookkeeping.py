"""Keeping the books in the background: rollups, balances, funds, refusals and postbacks.

Every PINGTREE_BOOKS_POLL_S each process: writes the intake refusals it counted as lead
events, rolls lead events into the report rollups (queueing the postbacks they call for)
and ledger entries into the balances, reads its buyers' funds again, and sends the
postbacks that are due. Rolling is done by one process at a time; the others skip it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.clock import Clock
from pingtree.config.catalog import Catalog
from pingtree.credentials import SecretResolver
from pingtree.failures import log_failure
from pingtree.ledger import balances
from pingtree.ledger.funds import FundsView
from pingtree.postbacks.sender import PostbackSender
from pingtree.reporting import events, rollups
from pingtree.routing.model import SaleResult
from pingtree.settings import Settings
from pingtree.storage.db import retrying
from pingtree.webhooks import Webhook

log = logging.getLogger("pingtree.books")
CATCH_UP_ROUNDS = 20  # rolls per pass at most, so one pass never runs unbounded


@dataclass(frozen=True)
class Kept:
    """What one pass did."""

    events: int = 0
    entries: int = 0
    postbacks: int = 0


async def _between() -> None:
    """Give the event loop a turn (leads' callbacks run) before the next transaction."""
    await asyncio.sleep(0)


class Bookkeeping:
    """The books' background work, and the funds view the router reads."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        clock: Clock,
        settings: Settings,
        catalog: Callable[[], Catalog],
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self.catalog = catalog
        self.funds = FundsView()
        self._refused: dict[tuple[int, str, str, str], int] = defaultdict(int)
        self.sender = PostbackSender(
            engine=engine,
            clock=clock,
            secrets=SecretResolver(settings.secret_keys),
            timeout_s=settings.postback_timeout_s,
            max_tries=settings.postback_max_tries,
            backoff_s=settings.postback_backoff_s,
        )

    def sold(self, sales: Iterable[SaleResult], event: tuple[int, int] | None) -> None:
        """Sales this process just recorded (their lead event at event): taken off their
        buyers' funds at once."""
        for sale in sales:
            self.funds.sold(sale.buyer, sale.price, event)

    def refused(self, publisher: str, vertical: str, codes: Iterable[str]) -> None:
        """Count an intake refusal (a lead not stored) for the publisher report."""
        bucket = events.slot(self.clock.now())
        for code in dict.fromkeys(codes):
            self._refused[(bucket, publisher, vertical, code)] += 1

    def hooks(self, party: str, name: str) -> Webhook | None:
        """The postback (publisher) or webhook (buyer) configured now."""
        catalog = self.catalog()
        if party == "publisher":
            publisher = catalog.publishers.get(name)
            return publisher.postback if publisher is not None else None
        buyer = catalog.buyers.get(name)
        return buyer.webhook if buyer is not None else None

    async def refresh_funds(self) -> None:
        """Read the buyers' funds from the ledger again."""
        await self.funds.refresh(self.engine, self.catalog().buyers)

    async def keep(self, http: aiohttp.ClientSession | None = None) -> Kept:
        """One pass; http None: postbacks are queued but not sent.

        Between its transactions the pass lets leads in flight go on (`_between`): on
        SQLite a transaction runs without giving the loop back, and a whole pass at once
        would hold up every lead for its length.
        """
        await self._flush_refusals()
        rolled = entries = 0
        for _ in range(CATCH_UP_ROUNDS):
            await _between()
            done = await retrying(self._roll_events)
            rolled += done or 0
            if not done or done < rollups.BATCH:
                break
        for _ in range(CATCH_UP_ROUNDS):
            await _between()
            done = await retrying(self._roll_entries)
            entries += done or 0
            if not done or done < balances.BATCH:
                break
        await _between()
        await self.refresh_funds()
        await _between()
        sent = await self.sender.send_due(http, self.hooks) if http is not None else 0
        return Kept(rolled, entries, sent)

    async def _roll_events(self) -> int | None:
        async with self.engine.begin() as conn:
            return await rollups.roll(conn, now=self.clock.now(), hooks=self.hooks)

    async def _roll_entries(self) -> int | None:
        async with self.engine.begin() as conn:
            return await balances.roll(conn, now=self.clock.now())

    async def _flush_refusals(self) -> None:
        counted, self._refused = dict(self._refused), defaultdict(int)
        if not counted:
            return
        try:
            async with self.engine.begin() as conn:
                await events.refused(conn, counted, at=self.clock.now())
        except Exception:
            for key, n in counted.items():  # kept for the next pass
                self._refused[key] += n
            raise

    async def run(self, http: Callable[[], aiohttp.ClientSession | None]) -> None:
        """Keep the books until cancelled."""
        while True:
            try:
                await self.keep(http())
            except Exception as exc:  # the books must outlive a passing database error
                log_failure(log, "keeping the books failed; retrying", exc)
            await asyncio.sleep(self.settings.books_poll_s)
