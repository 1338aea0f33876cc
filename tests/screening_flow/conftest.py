"""Screening through the whole engine: real HTTP buyers (simulator), SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from pingtree.screening.checks import warm_up
from tests.engine.conftest import engine, engine_sqlite

__all__ = ["engine", "engine_sqlite"]


@pytest.fixture(scope="session", autouse=True)
def _zip_table() -> None:
    # Build the ZIP table once, so no single lead (or time limit) pays for it.
    warm_up()
