"""The app's rate limits: failed logins and admin tokens per client, intake per publisher.

Counted with the `limits` library's moving window, which is exact: at most N hits in any
window of the rate's length. The counts live in Redis when PINGTREE_REDIS_URL is set, so
every worker process shares them; otherwise in this process's memory (one worker only).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool, Redis

from pingtree.ratelimits.rates import parse_rate

log = logging.getLogger("pingtree.ratelimits")

# A rate limit must never hold a lead up for long: a Redis that does not answer in this
# time is treated as down, and the request goes through (logged).
REDIS_TIMEOUT_S = 2.0


class RateLimits:
    """Counts hits against rates, in Redis (shared by all workers) or in process memory."""

    def __init__(self, *, redis_url: str | None, key_prefix: str, auth_failures: str) -> None:
        self._pool: ConnectionPool | None = None
        storage: Storage
        if redis_url:
            self._pool = ConnectionPool.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
            storage = RedisStorage(
                "async+" + redis_url.removeprefix("async+"),
                implementation="redispy",
                key_prefix=key_prefix,
                wrap_exceptions=True,
                # Our own pool, so close() can release it (the library's stub types options
                # as scalars, but documents connection_pool).
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self.shared = redis_url is not None
        self._window = MovingWindowRateLimiter(storage)
        self._auth_failures = parse_rate(auth_failures)

    async def reachable(self) -> bool:
        """Whether Redis answers a PING (True when limits are counted in memory)."""
        if self._pool is None:
            return True
        answer: Awaitable[bool] = Redis(connection_pool=self._pool).ping()  # type: ignore[assignment]
        return bool(await answer)

    async def close(self) -> None:
        """Close the Redis connections, if any."""
        if self._pool is not None:
            await self._pool.disconnect()

    async def auth_locked_out(self, client: str) -> int | None:
        """Seconds until client may try a token again, or None when it may now."""
        item = self._auth_failures
        try:
            if await self._window.test(item, "auth-failures", client):
                return None
            return await self._retry_after(item, "auth-failures", client)
        except StorageError:
            log.exception("rate limit storage failed; auth failures not limited")
            return None

    async def auth_failed(self, client: str) -> None:
        """Count one failed login or wrong token from client."""
        try:
            await self._window.hit(self._auth_failures, "auth-failures", client)
        except StorageError:
            log.exception("rate limit storage failed; auth failure not counted")

    async def take_intake(self, publisher: str, rate: str) -> int | None:
        """Count one lead or ping from publisher: None when allowed, else seconds to wait."""
        item = parse_rate(rate)
        try:
            if await self._window.hit(item, "intake", publisher):
                return None
            return await self._retry_after(item, "intake", publisher)
        except StorageError:
            # A lead is worth more than the limit: with the counter gone, let it in.
            log.exception("rate limit storage failed; intake of %s not limited", publisher)
            return None

    async def _retry_after(self, item: RateLimitItem, *key: str) -> int:
        stats = await self._window.get_window_stats(item, *key)
        # The library counts in wall-clock seconds (time.time()), as its stored entries are.
        return max(1, math.ceil(stats.reset_time - time.time()))
