"""Fixtures of the storage tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import migrated_database


@pytest.fixture
async def postgres_url(tmp_path: Path, postgres_schema_url: str | None) -> AsyncIterator[str]:
    """The migrated PostgreSQL test schema alone: connections SQLite has no way to lose, and
    the paths direct execution takes on PostgreSQL only (never skipped in CI)."""
    async with migrated_database("postgres", tmp_path, postgres_schema_url) as url:
        yield url
