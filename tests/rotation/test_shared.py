"""Even rotation shared through Redis: several processes rotate as one, and a Redis that
does not answer never holds a lead up."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from pingtree.clock import ManualClock
from pingtree.rotation import SharedRotation
from pingtree.rotation.shared import BACKOFF_S
from tests.conftest import REDIS_ENV

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    """The test Redis and a key prefix of this test's own (deleted afterwards)."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        if os.environ.get("CI"):
            raise RuntimeError(f"{REDIS_ENV} must be set in CI: Redis is never skipped there")
        pytest.skip(f"{REDIS_ENV} not set (never skipped in CI)")
    prefix = f"pt-test-{uuid.uuid4().hex[:12]}"
    yield url, prefix
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def test_two_processes_share_one_counter_per_tier(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    one = SharedRotation(url, prefix=prefix, clock=ManualClock(NOW))
    two = SharedRotation(url, prefix=prefix, clock=ManualClock(NOW))
    try:
        # Leads alternate unevenly between the processes: 2 here, 1 there, ...
        takers = [one, one, two] * 20
        starts = [await taker.next_start("tree/even", 3) for taker in takers]
        assert starts == [0, 1, 2] * 20  # one rotation, as if one process took every lead
        assert Counter(starts) == {0: 20, 1: 20, 2: 20}
        assert await two.next_start("tree/other", 3) == 0  # one counter per tier
    finally:
        await one.close()
        await two.close()


async def test_an_unreachable_redis_rotates_in_process_and_is_asked_again_later() -> None:
    clock = ManualClock(NOW)
    rotation = SharedRotation("redis://127.0.0.1:1/0", prefix="pt-test", clock=clock)
    try:
        assert [await rotation.next_start("tree/even", 2) for _ in range(3)] == [0, 1, 0]
        clock.advance(BACKOFF_S + 1)
        assert await rotation.next_start("tree/even", 2) == 1  # asked again, fell back again
        assert await rotation.next_start("tree/empty", 0) == 0
    finally:
        await rotation.close()
