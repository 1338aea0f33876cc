"""The database engine: SQLite (default, WAL) or PostgreSQL, both async."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    InvalidatePoolError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from pingtree.failures import describe
from pingtree.storage.sqlite_inline import InlineEngine, inline_creator


def is_sqlite(url: str) -> bool:
    """Whether the URL points at SQLite."""
    return url.startswith("sqlite")


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    return database if database and database != ":memory:" else None


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout_s: float | None = None,
    checkpoints_apart: bool = False,
) -> AsyncEngine:
    """An async engine tuned for the backend, its pool bounded.

    PostgreSQL: at most pool_size + max_overflow connections per process; a request that
    finds none free waits pool_timeout_s (default 10), then fails (the publisher gets 503,
    retry). SQLite: the same wait for its one connection (default 60: a command-line tool
    beside a busy server waits its turn).
    SQLite allows one writer at a time; a single pooled connection serialises writes inside
    the process instead of letting connections fight over the file lock. checkpoints_apart:
    no commit checkpoints the log; the caller runs storage.checkpoints beside the engine.
    """
    kwargs: dict[str, Any] = {}
    if is_sqlite(url):
        kwargs.update(
            pool_size=1,
            max_overflow=0,
            pool_timeout=60 if pool_timeout_s is None else pool_timeout_s,
        )
        database = sqlite_file(url)
        if database is not None:
            kwargs["async_creator"] = inline_creator(database)
    else:
        kwargs.update(
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=10 if pool_timeout_s is None else pool_timeout_s,
        )
    # Statement parameters are the lead's PII: never in an exception's text, so never logged.
    engine = create_async_engine(url, hide_parameters=True, **kwargs)
    if not is_sqlite(url):
        _ping_when_idle(engine)
    if is_sqlite(url):
        pragmas = _sqlite_pragmas_apart if checkpoints_apart else _sqlite_pragmas
        event.listen(engine.sync_engine, "connect", pragmas)
        if "async_creator" in kwargs:  # a file, its statements run inline: a lean begin()
            engine = InlineEngine(engine.sync_engine)
    return engine


PING_AFTER_IDLE_S = 2.0
"""A pooled PostgreSQL connection idle this long is pinged before it is used again."""


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it sat idle PING_AFTER_IDLE_S.

    SQLAlchemy's pool_pre_ping pings on every checkout: a round trip for every transaction,
    a lead makes three or more. A connection in steady use was working milliseconds ago;
    one left idle (a restart, a proxy's idle timeout while traffic was quiet) is the one
    that may be dead. A failed ping invalidates the pool, as pre_ping does; a connection
    lost between pings fails its statement, which invalidates the pool too, and the
    writes that must land are retried (retrying_through_outage).
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        at = record.info.get("returned_at")
        if at is None or time.monotonic() - at < PING_AFTER_IDLE_S:
            return  # new, or in steady use
        if not dialect._do_ping_w_event(dbapi_connection):
            raise InvalidatePoolError()

    event.listen(pool, "checkin", returned)
    event.listen(pool, "checkout", checkout)


def _sqlite_pragmas_apart(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Inline SQLite connections wait for other processes' locks with asyncio sleeps
    # (sqlite_inline); a busy handler here would freeze the event loop instead.
    cursor.execute("PRAGMA busy_timeout=0")
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


T = TypeVar("T")
RETRY_STATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
ATTEMPTS = 4


def is_transient(exc: DBAPIError) -> bool:
    """A failure that retrying the whole transaction can cure (deadlock, busy SQLite file)."""
    state = getattr(exc.orig, "sqlstate", None)
    return state in RETRY_STATES or "database is locked" in str(exc.orig)


async def retrying(transaction: Callable[[], Awaitable[T]]) -> T:
    """Run a transaction, again from the start when the database says it may succeed then."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await transaction()
        except DBAPIError as exc:
            if attempt == ATTEMPTS or not is_transient(exc):
                raise
            await asyncio.sleep(0.005 * attempt * (1 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


def is_unreachable(exc: BaseException) -> bool:
    """The database could not be reached (connection refused or lost, no pooled connection)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout | OSError
    )


log = logging.getLogger("pingtree.storage")
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.05, 2.0


async def retrying_through_outage(
    transaction: Callable[[], Awaitable[T]], *, within_s: float, what: str
) -> T:
    """retrying(), and while the database is unreachable again with backoff, for within_s.

    For writes that must land (a sale the buyer made): the last error is raised after that.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within_s
    delay = BACKOFF_FIRST_S
    while True:
        try:
            return await retrying(transaction)
        except Exception as exc:
            if not is_unreachable(exc) or loop.time() + delay > give_up:
                raise
            log.warning(
                "database unreachable writing %s (%s); retrying in %.2fs",
                what,
                describe(exc),
                delay,
            )
        await asyncio.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, BACKOFF_MAX_S)


async def connection_room(url: str) -> int | None:
    """The connections PostgreSQL gives ordinary users (max_connections less the
    superusers' reserve); None for SQLite."""
    if is_sqlite(url):
        return None
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            room = await conn.scalar(
                text(
                    "SELECT current_setting('max_connections')::int"
                    " - current_setting('superuser_reserved_connections')::int"
                )
            )
    finally:
        await engine.dispose()
    return int(room)


def connections_warning(
    workers: int, *, pool_size: int, max_overflow: int, room: int | None
) -> str | None:
    """What to tell an operator whose workers may open more connections than PostgreSQL
    takes (None: they fit). Other servers and tools need connections too: this is the
    least that must fit."""
    if room is None:
        return None
    most = workers * (pool_size + max_overflow)
    if most <= room:
        return None
    return (
        f"{workers} worker(s) x {pool_size + max_overflow} connections "
        f"(PINGTREE_DB_POOL_SIZE {pool_size} + PINGTREE_DB_MAX_OVERFLOW {max_overflow}) = "
        f"{most}, more than the {room} PostgreSQL takes (max_connections less "
        "superuser_reserved_connections): at a peak, leads would be answered 503. Lower "
        "the pool settings or the workers, raise max_connections, or put PgBouncer in front "
        "(then this does not apply)."
    )
