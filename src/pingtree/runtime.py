"""The running engine's parts, wired once: database, buyer gateway, cap ledger, router, config."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pingtree import audit
from pingtree.audit import anchors
from pingtree.bookkeeping import Bookkeeping
from pingtree.calls.gateway import CallGateway
from pingtree.calls.lines import CallLines
from pingtree.calls.sessions import Sessions
from pingtree.clock import Clock, SystemClock
from pingtree.config.catalog import Catalog
from pingtree.config.document import ConfigDocument
from pingtree.config.store import current_version, load_document
from pingtree.consent.links import ConsentLinks
from pingtree.credentials import SecretResolver
from pingtree.delivery.connections import BuyerConnections
from pingtree.delivery.gateway import HttpGateway
from pingtree.delivery.offload import DeliveryProcess
from pingtree.delivery.outbound import new_session
from pingtree.failures import log_failure
from pingtree.intake.admission import LoopLag
from pingtree.metrics import Figures
from pingtree.ratelimits import RateLimits
from pingtree.recovery import service as recovery
from pingtree.recovery.in_flight import LeadsInFlight
from pingtree.returns import flows as returns_flows
from pingtree.rotation import SharedRotation
from pingtree.routing.engine import Router
from pingtree.routing.ports import BuyerGateway
from pingtree.sales.ledger import SqlCapLedger
from pingtree.screening.checks import warm_up
from pingtree.screening.purchases import SqlBuyerPurchases
from pingtree.settings import Settings
from pingtree.storage.checkpoints import keep_checkpointing
from pingtree.storage.db import create_engine, sessions, sqlite_file

log = logging.getLogger("pingtree")
INTERRUPTED_MARGIN_S = 2.0


class Runtime:
    """Everything a lead's path needs, created at start-up and closed at shutdown."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._sqlite_file = sqlite_file(settings.database)
        self.engine: AsyncEngine = create_engine(
            settings.database,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout_s=settings.db_pool_timeout_s,
            checkpoints_apart=self._sqlite_file is not None,
        )
        self.sessions: async_sessionmaker[AsyncSession] = sessions(self.engine)
        self.ledger = SqlCapLedger(self.engine, self.clock)
        self.in_flight = LeadsInFlight()
        self.loop_lag = LoopLag(self.clock)
        self.http: aiohttp.ClientSession | None = None
        """Webhooks, postbacks, call availability checks."""
        self.buyers: BuyerConnections | None = None
        """Pings and posts sent from this process."""
        self.delivery: DeliveryProcess | None = None
        """The child process pings and posts are sent from, when delivery_process is set."""
        self._router: Router | None = None
        self._call_router: Router | None = None
        self.call_sessions = Sessions()
        self.call_lines = CallLines(self.engine)
        self._rng = rng
        self.catalog = Catalog.build(ConfigDocument())
        self._loading = asyncio.Lock()
        self.config_loaded = False
        self._longer_tree: tuple[float, float] = (0.0, 0.0)
        """(seconds, until): the longest tree of a configuration replaced by a shorter one,
        and until when (monotonic) a lead routed under it may still be live."""
        self.figures = Figures(
            campaigns=lambda: (c.campaign for c in self.catalog.campaigns.values()),
            seen=self.ledger.seen,
            now=self.clock.now,
        )
        self._watcher: asyncio.Task[None] | None = None
        self._sealer: asyncio.Task[None] | None = None
        self.consent_links = ConsentLinks.from_settings(
            settings.secret_keys,
            base_url=settings.public_base_url,
            ttl=settings.consent_link_ttl,
        )
        self.books = Bookkeeping(
            engine=self.engine, clock=self.clock, settings=settings, catalog=lambda: self.catalog
        )
        self._bookkeeper: asyncio.Task[None] | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self.rate_limits = RateLimits(
            redis_url=settings.redis_url,
            key_prefix=settings.ratelimit_prefix,
            auth_failures=settings.auth_failure_limit,
        )
        # Several processes share even rotation through Redis, as they share rate limits.
        self.rotation = (
            SharedRotation(settings.redis_url, prefix=settings.ratelimit_prefix, clock=self.clock)
            if settings.redis_url
            else None
        )

    def lateness(self) -> float:
        """How late this process's timers fire now (its event loop's lag), when lag is
        watched (max_loop_lag_share); deadlines are kept by setting timers that much earlier."""
        return self.loop_lag.seconds if self.settings.max_loop_lag_share else 0.0

    @property
    def router(self) -> Router:
        """The router; exists between start() and stop()."""
        assert self._router is not None, "Runtime.start() was not called"
        return self._router

    @property
    def call_router(self) -> Router:
        """The router of calls: the same core, its posts are dials (calls.gateway)."""
        assert self._call_router is not None, "Runtime.start() was not called"
        return self._call_router

    def _new_router(self, gateway: BuyerGateway) -> Router:
        return Router(
            gateway=gateway,
            ledger=self.ledger,
            clock=self.clock,
            rotation=self.rotation,
            rng=self._rng,
            purchases=SqlBuyerPurchases(self.engine),
            lateness=self.lateness,
            funds=self.books.funds,
        )

    async def start(self, *, watch: bool = True) -> None:
        """Open the outbound session, load the configuration and start housekeeping."""
        # Screening's ZIP table takes a moment to build; the first lead should not wait for it.
        await asyncio.to_thread(warm_up)
        self.http = new_session(
            self.settings.http_connection_limit, allow=self.settings.buyer_allowlist
        )
        self.buyers = BuyerConnections(
            self.settings.buyer_allowlist, limit=self.settings.http_connection_limit
        )
        if self.settings.delivers_from_a_process:
            self.delivery = DeliveryProcess(
                allow=self.settings.buyer_url_allow,
                connection_limit=self.settings.http_connection_limit,
            )
        gateway = HttpGateway(
            self.buyers,
            self.clock,
            SecretResolver(self.settings.secret_keys),
            answer_limit=self.settings.buyer_answer_max_bytes,
            deliverer=self.delivery,
        )
        self._router = self._new_router(gateway)
        dials = CallGateway(gateway, self.call_sessions, self.call_lines, self.clock, self.http)
        self._call_router = self._new_router(dials)
        try:
            if self.delivery is not None:
                await self.delivery.start()
            await self.reload_config()
        except BaseException:
            if self.delivery is not None:
                await self.delivery.close()
            await self.http.close()
            await self.buyers.close()
            raise
        self.loop_lag.start()
        if self._sqlite_file is not None:  # the engine leaves checkpoints to this task
            self._checkpoints = asyncio.create_task(
                keep_checkpointing(self._sqlite_file, self.settings.sqlite_checkpoint_s),
                name="pingtree-checkpoints",
            )
        asks_consent = any(v.consent for v in self.catalog.verticals.values()) or any(
            p.consent for p in self.catalog.publishers.values()
        )
        if self.consent_links is None and asks_consent:
            log.warning("PINGTREE_SECRET_KEY is not set: posts carry no link to the consent")
        if watch:
            self._watcher = asyncio.create_task(self._housekeeping(), name="pingtree-housekeeping")
            self._sealer = asyncio.create_task(self._sealing(), name="pingtree-audit-sealer")
            self._bookkeeper = asyncio.create_task(
                self.books.run(lambda: self.http), name="pingtree-books"
            )

    async def seal(self) -> audit.Head | None:
        """Seal the audit events appended since the last seal; the new head if it moved.

        With audit_anchor_file set, the new head is also written there as an anchor.
        """
        sealed = await audit.seal(self.engine, now=self.clock.now())
        if not sealed:
            return None
        async with self.engine.connect() as conn:
            top = await audit.head(conn)
        path = self.settings.audit_anchor_file
        if path is not None:
            await asyncio.to_thread(
                anchors.write, path, anchors.anchor(top.seq, top.hash, self.clock.now())
            )
        return top

    async def _sealing(self) -> None:
        # One sealer per process; processes take turns on the chain head's row lock.
        while True:
            try:
                await self.seal()
            except Exception as exc:  # the next pass seals what this one could not
                log_failure(log, "sealing the audit trail failed; retrying", exc)
            await asyncio.sleep(self.settings.audit_seal_s)

    async def recover(self) -> recovery.Settled:
        """Settle leads a crash interrupted (never one this process is still working on)."""
        settled = await recovery.settle_interrupted(
            engine=self.engine,
            clock=self.clock,
            older_than=timedelta(seconds=self.interrupted_after_s()),
            skip=self.in_flight,
        )
        if settled != recovery.Settled():
            log.warning(
                "recovery: %d interrupted leads unsold, %d uncertain, %d orphaned holds",
                settled.interrupted,
                settled.uncertain,
                settled.orphans,
            )
        offered = await returns_flows.offer_left_over(
            self, older_than=timedelta(seconds=self.interrupted_after_s())
        )
        if offered:
            log.warning("recovery: %d returned leads offered again after a stop", offered)
        return settled

    def interrupted_after_s(self) -> float:
        """How old an unanswered lead must be to count as interrupted: never less than the
        longest tree plus the record's retries, so another process's live lead is left alone.

        A tree shortened (or removed) counts at its former length while a lead routed under
        it may still be live."""
        longest = self._longest_tree_s()
        former, until = self._longer_tree
        if self.clock.monotonic() < until:
            longest = max(longest, former)
        return max(self.settings.interrupted_after_s, self._live_s(longest))

    def _longest_tree_s(self) -> float:
        return max((t.max_processing_ms for t in self.catalog.trees.values()), default=0) / 1000

    def _live_s(self, tree_s: float) -> float:
        """How long a lead of a tree this long may stay unanswered and still be live."""
        return tree_s + self.settings.record_retry_s + INTERRUPTED_MARGIN_S

    async def stop(self) -> None:
        """Close everything start() opened, after the records still being written."""
        for task in (self._watcher, self._sealer, self._bookkeeper, self._checkpoints):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.in_flight.drain(self.settings.record_retry_s)
        if self._sealer is not None:
            try:  # what the last leads appended, sealed before the process goes
                # Bounded: a database that stopped answering must not hold the process
                # forever (what is left is sealed by the next process's sealer).
                await asyncio.wait_for(self.seal(), self.settings.record_retry_s)
            except Exception as exc:
                log_failure(log, "sealing the audit trail at shutdown failed", exc)
        await self.loop_lag.stop()
        if self.delivery is not None:
            await self.delivery.close()
        if self.http is not None:
            await self.http.close()
        if self.buyers is not None:
            await self.buyers.close()
        await self.rate_limits.close()
        if self.rotation is not None:
            await self.rotation.close()
        await self.engine.dispose()

    async def reload_config(self) -> None:
        """Load the stored configuration and make it the one in force."""
        # One load at a time: two overlapping loads (housekeeping's poll and an apply's)
        # could finish in the wrong order and put the older configuration back in force.
        async with self._loading:
            async with self.sessions() as session:
                document, version = await load_document(session)
            longest = self._longest_tree_s()
            self.catalog = Catalog.build(document, version)
            self.config_loaded = True
            if longest > self._longest_tree_s():  # leads routed under it go on meanwhile
                former, until = self._longer_tree
                now = self.clock.monotonic()
                longest = max(longest, former) if now < until else longest
                self._longer_tree = (longest, max(until, now + self._live_s(longest)))
        await self.ledger.refresh([c.campaign for c in self.catalog.campaigns.values()])
        await self.books.refresh_funds()

    async def _housekeeping(self) -> None:
        # Another process (or `pingtree apply`) may change the configuration; expired holds
        # of unused inbound pings give their cap room back; leads a crash interrupted are
        # settled (at start, then every recovery_poll_s).
        next_recovery = 0.0
        while True:
            if self.clock.monotonic() >= next_recovery:
                next_recovery = self.clock.monotonic() + self.settings.recovery_poll_s
                try:
                    await self.recover()
                    await asyncio.sleep(0)  # leads in flight go on between transactions
                    keep = timedelta(days=self.settings.journal_keep_days)
                    await self.ledger.prune(older_than=self.clock.now() - keep)
                except Exception as exc:
                    log_failure(log, "recovery failed; retrying", exc)
            await asyncio.sleep(self.settings.config_poll_s)
            try:
                async with self.sessions() as session:
                    version = await current_version(session)
                await asyncio.sleep(0)
                if version != self.catalog.version:
                    await self.reload_config()
                else:
                    await self.ledger.refresh([c.campaign for c in self.catalog.campaigns.values()])
                await asyncio.sleep(0)
                await self.ledger.release_expired()
            except Exception as exc:  # housekeeping must outlive a passing database error
                log_failure(log, "housekeeping failed; retrying", exc)
