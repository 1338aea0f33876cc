"""Operators of each role in a running engine, and the engine harness for the API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pingtree.operators import Role, repository
from pingtree.runtime import Runtime
from tests.engine.conftest import Harness, _harness, engine, engine_sqlite

__all__ = ["add_operator", "engine", "engine_sqlite", "engine_walked"]


@pytest.fixture
async def engine_walked(sqlite_url: str) -> AsyncIterator[Harness]:
    """An engine on SQLite that lets one client try wrong credentials on every route.

    The route walk sends hundreds of wrong tokens from one address; the failed-credential
    limit (tests/ratelimits) would answer 429 long before it is done.
    """
    async for harness in _harness(sqlite_url, auth_failure_limit="1000000/hour"):
        yield harness


async def add_operator(rt: Runtime, name: str, role: Role) -> str:
    """Create an operator in the runtime's database; its token."""
    async with rt.sessions() as session, session.begin():
        return await repository.create(session, name, role, now=rt.clock.now(), actor="test")
