"""Recovery through the whole engine: real HTTP buyers (simulator), SQLite and PostgreSQL."""

from __future__ import annotations

from tests.engine.conftest import engine, engine_clocked, engine_sqlite

__all__ = ["engine", "engine_clocked", "engine_sqlite"]
