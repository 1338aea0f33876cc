"""Operators of each role in a running engine, and the engine harness for the API tests."""

from __future__ import annotations

from pingtree.operators import Role, repository
from pingtree.runtime import Runtime
from tests.engine.conftest import engine, engine_sqlite

__all__ = ["add_operator", "engine", "engine_sqlite"]


async def add_operator(rt: Runtime, name: str, role: Role) -> str:
    """Create an operator in the runtime's database; its token."""
    async with rt.sessions() as session, session.begin():
        return await repository.create(session, name, role, now=rt.clock.now())
