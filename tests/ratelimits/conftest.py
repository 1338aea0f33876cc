"""Engines whose rate limits count in memory, then in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.engine.conftest import Harness, _harness

AUTH_LIMIT = "10/hour"


@pytest.fixture
async def limited(sqlite_url: str, rate_limit_storage: dict[str, Any]) -> AsyncIterator[Harness]:
    """An engine on SQLite, its rate limits in memory or in Redis.

    10 auth failures an hour (the default count, over a window no slow run can outlast).
    """
    async for harness in _harness(sqlite_url, auth_failure_limit=AUTH_LIMIT, **rate_limit_storage):
        yield harness


@pytest.fixture
async def limited_db(
    database_url: str, rate_limit_storage: dict[str, Any]
) -> AsyncIterator[Harness]:
    """An engine on each database, its rate limits in memory or in Redis."""
    async for harness in _harness(database_url, **rate_limit_storage):
        yield harness
