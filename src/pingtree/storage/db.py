"""The database engine: SQLite (default, WAL) or PostgreSQL, both async."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession


def is_sqlite(url: str) -> bool:
    """Whether the URL points at SQLite."""
    return url.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """An async engine tuned for the backend.

    SQLite allows one writer at a time; a single pooled connection serialises writes inside
    the process instead of letting connections fight over the file lock.
    """
    kwargs: dict[str, Any] = {}
    if is_sqlite(url):
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory every repository uses."""
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_insert(bind: AsyncSession | AsyncConnection) -> Any:
    """The dialect's INSERT construct, which knows ON CONFLICT on both SQLite and PostgreSQL."""
    if isinstance(bind, AsyncConnection):
        return dialect_insert_for(bind.dialect.name)
    return dialect_insert_for(bind.get_bind().dialect.name)


def dialect_insert_for(dialect: str) -> Any:
    """dialect_insert() by dialect name."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
