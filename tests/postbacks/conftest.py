"""These tests run against the same engine harness as the engine tests."""

from tests.engine.conftest import engine, engine_clocked, engine_sqlite

__all__ = ["engine", "engine_clocked", "engine_sqlite"]
