"""Shared fixtures: real databases (SQLite and PostgreSQL), real buyer servers, the app."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy import text

from pingtree.storage.db import create_engine
from pingtree.storage.migrate import upgrade
from pingtree.storage.tables import Base

POSTGRES_ENV = "PINGTREE_TEST_POSTGRES_URL"
REDIS_ENV = "PINGTREE_TEST_REDIS_URL"


@pytest.fixture(autouse=True)
def _requests_sent_from_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps in tests send from their own process (a delivery process, SQLite's default,
    takes a second to start): tests that read answers run both ways (tests/engine's
    engine_senders), tests/delivery/test_offload.py tests the default itself."""
    monkeypatch.setenv("PINGTREE_DELIVERY_PROCESS", "false")


def _backends() -> list[str]:
    return ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str | None]:
    """A migrated schema of its own in the test PostgreSQL, or None when no DSN is set."""
    dsn = os.environ.get(POSTGRES_ENV)
    if not dsn:
        if os.environ.get("CI"):
            raise RuntimeError(
                f"{POSTGRES_ENV} must be set in CI: PostgreSQL is never skipped there"
            )
        yield None
        return
    schema = f"pt_test_{uuid.uuid4().hex[:10]}"
    plain = dsn.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3D{schema}"
    import asyncio

    asyncio.run(upgrade(url))
    yield url
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@asynccontextmanager
async def migrated_database(
    backend: str, tmp_path: Path, postgres_schema_url: str | None
) -> AsyncIterator[str]:
    """A migrated, empty database of the backend ("sqlite" or "postgres"), emptied after."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'pingtree.db'}"
        await upgrade(url)
        yield url
        return
    if postgres_schema_url is None:
        pytest.skip(f"{POSTGRES_ENV} not set (never skipped in CI)")
    yield postgres_schema_url
    engine = create_engine(postgres_schema_url)
    async with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names}"))
    await engine.dispose()


@pytest.fixture(params=_backends())
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_schema_url: str | None
) -> AsyncIterator[str]:
    """A migrated, empty database: a SQLite file, then the PostgreSQL test schema."""
    async with migrated_database(request.param, tmp_path, postgres_schema_url) as url:
        yield url


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database, for tests that are not about storage."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'pingtree.db'}"
    await upgrade(url)
    return url


@pytest.fixture(params=["memory", "redis"])
def rate_limit_storage(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Settings for where rate limits count: this process's memory, then Redis.

    On Redis each test gets its own key prefix (so parallel runs never share a count), and
    its keys are deleted afterwards.
    """
    if request.param == "memory":
        yield {"redis_url": None}
        return
    url = os.environ.get(REDIS_ENV)
    if not url:
        if os.environ.get("CI"):
            raise RuntimeError(f"{REDIS_ENV} must be set in CI: Redis is never skipped there")
        pytest.skip(f"{REDIS_ENV} not set (never skipped in CI)")
    prefix = f"pt-test-{uuid.uuid4().hex[:12]}"
    yield {"redis_url": url, "ratelimit_prefix": prefix}
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
