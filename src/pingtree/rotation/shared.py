"""Rotation counters in Redis: one counter per tier, shared by every process.

An even tier rotates its first offer over its campaigns, and a run of tied offers in a
price, parallel or ping_post tier takes turns going first. Each lead takes the next value
of the tier's counter with one INCR, so N processes (`serve --workers N`, or servers on
several machines behind a balancer) rotate as one: over any 3N leads of a 3-campaign even
tier, each campaign gets exactly N first offers, whichever process took each lead.

Fairness is never worth a lead: if Redis does not answer within TIMEOUT_S, the process
rotates on its own counters (logged) and asks Redis again after BACKOFF_S.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pingtree.clock import Clock
from pingtree.failures import log_failure
from pingtree.routing.flows import MemoryRotation

log = logging.getLogger("pingtree.rotation")

TIMEOUT_S = 0.25
"""The longest a lead waits for its rotation counter; Redis on the LAN answers in < 1 ms."""
BACKOFF_S = 5.0
"""After a failure, rotate in the process this long before asking Redis again."""


class SharedRotation:
    """The routing port Rotation over Redis INCR, with the process's own counters as fallback."""

    def __init__(self, redis_url: str, *, prefix: str, clock: Clock) -> None:
        self._redis = Redis.from_url(
            redis_url.removeprefix("async+"),  # the form the rate limits' library also takes
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
        )
        self._prefix = f"{prefix}:rotation:"
        self._clock = clock
        self._local = MemoryRotation()
        self._down_until = float("-inf")

    async def next_start(self, key: str, size: int) -> int:
        """The start index for this lead, from the counter every process shares."""
        if size <= 0:
            return 0
        if self._clock.monotonic() < self._down_until:
            return await self._local.next_start(key, size)
        try:
            value = await asyncio.wait_for(self._redis.incr(self._prefix + key), TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            self._down_until = self._clock.monotonic() + BACKOFF_S
            log_failure(log, "rotation counters in Redis unreachable; rotating in-process", exc)
            return await self._local.next_start(key, size)
        return (int(value) - 1) % size

    async def close(self) -> None:
        """Close the Redis connections."""
        await self._redis.aclose()
