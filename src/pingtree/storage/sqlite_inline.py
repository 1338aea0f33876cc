"""SQLite for the async engine without a thread hop per statement.

aiosqlite runs every call on its own thread and wakes the event loop for each answer;
that hop costs more CPU than the statement (about 0.4 ms against tens of microseconds).
SQLite on a local file answers in microseconds, and pingtree keeps one connection per
process, so this adapter runs each call inline and hands SQLAlchemy's aiosqlite dialect
awaitables that are already complete. The price: a statement blocks the loop while it
runs, which for SQLite-sized work is shorter than the hop it saves.

A lock held by another process (`pingtree apply` against a running server) is waited for
without blocking the loop: SQLite's own busy handler is off (it would sleep inside the
statement, freezing every lead in flight), and a statement or commit that finds the file
busy is tried again after an asyncio sleep, for up to BUSY_WAIT_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine, Transaction
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util.concurrency import greenlet_spawn

T = TypeVar("T")
BUSY_WAIT_S = 10.0
"""How long a statement waits for another process's lock before failing as locked."""
_SQLITE_BUSY = 5  # the plain code: another connection holds the lock. BUSY_SNAPSHOT (517)
# means this transaction's snapshot is stale: waiting cannot cure it, the caller retries it.


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code == _SQLITE_BUSY)
    return "database is locked" in str(exc)


async def _waiting_out_locks(run: Callable[[], T]) -> T:
    """Run a call; while another process holds the lock, sleep (not block) and try again."""
    give_up = time.monotonic() + BUSY_WAIT_S
    delay = 0.001
    while True:
        try:
            return run()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() + delay > give_up:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


class _Cursor:
    """A sqlite3 cursor with the awaitable surface of aiosqlite's."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Cursor:
        await _waiting_out_locks(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> _Cursor:
        rows = list(parameters)  # an iterator would be spent by a first, busy attempt
        await _waiting_out_locks(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _Immediately:
    """Stands in for aiosqlite's work queue: runs what SQLAlchemy puts on it at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # handed to SQLAlchemy through the future
            future.set_exception(exc)


class InlineConnection:
    """A sqlite3 connection with the awaitable surface SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection
        self._tx = _Immediately()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor())

    async def commit(self) -> None:
        await _waiting_out_locks(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        """Close at once (SQLAlchemy's terminate)."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def inline_creator(path: str) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine that opens path inline."""

    async def connect() -> InlineConnection:
        # check_same_thread=False: SQLAlchemy may close a connection from its GC thread.
        # timeout=0: no busy handler sleeping inside a statement; locks are waited out above.
        return InlineConnection(sqlite3.connect(path, check_same_thread=False, timeout=0))

    return connect


def runs_inline(engine: AsyncEngine) -> bool:
    """Whether engine's statements run inline: a transaction then commits within its call or
    not at all, so a caller cut off by a timeout knows nothing was written (it rolled back).
    """
    return isinstance(engine, InlineEngine)


class InlineEngine(AsyncEngine):
    """The async engine over an inline SQLite connection, its begin() made lean.

    SQLAlchemy's begin() takes four greenlets (check out, begin, commit, close) and two
    tasks (so a cancelled caller cannot leave the close half done) per transaction: about
    90 µs of CPU here, more than the statements of most transactions, and a lead takes
    several. Inline, nothing in between can be interrupted (no statement waits, unless
    another process holds the lock), so one greenlet opens the transaction and one ends it
    (commit or rollback, then the connection back to the pool) in the caller's task. A
    cancellation thrown into a commit waiting out a lock still closes the connection: the
    close runs in a finally, and an inline rollback never waits.
    """

    def connect(self) -> AsyncConnection:
        return _ClosedInline(self)

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        sync, transaction = await greenlet_spawn(_open, self.sync_engine)
        conn = AsyncConnection(self, sync)
        try:
            yield conn
        except BaseException as exc:
            await greenlet_spawn(_close, sync, transaction, exc)
            raise
        await greenlet_spawn(_close, sync, transaction, None)


class _ClosedInline(AsyncConnection):
    """A connection whose `async with` closes it in the caller's task: SQLAlchemy's closes
    in a task of its own (a loop turn), in case the caller is cancelled while the close
    waits; an inline close never waits."""

    __slots__ = ()

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        await self.close()


def _open(engine: Engine) -> tuple[Connection, Transaction]:
    conn = engine.connect()
    try:
        transaction = conn.begin()
        transaction.__enter__()
    except BaseException:
        conn.close()
        raise
    return conn, transaction


def _close(conn: Connection, transaction: Transaction, exc: BaseException | None) -> None:
    try:  # commits, or rolls back when the block raised (as a `with conn.begin()` would)
        transaction.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)
    finally:
        conn.close()
