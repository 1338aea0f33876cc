"""A lead's hot statements go straight to the driver, past SQLAlchemy's execution layer.

For every statement SQLAlchemy builds an execution context, processes each parameter of
each row through its compiled form, hops greenlets to reach the async driver and wraps
the cursor in a result: on SQLite several times what the database itself spends (a lead's
record: about 1.2 ms of SQLAlchemy for 0.3 ms of SQLite), on PostgreSQL about 0.1 ms per
statement. The statements a lead runs on its way (store, hold, record) are few and built
once, so each is planned once per dialect and set of columns given (a `Plan`: its SQL in
the driver's own parameter style, each parameter's place and bind processor, each result
column's processor: all taken from SQLAlchemy's compiled form, so the driver receives
exactly what SQLAlchemy would send), and `execute()` runs it on the connection of the
caller's SQLAlchemy transaction: commit, rollback, pooling and invalidation stay
SQLAlchemy's. A driver error is raised as SQLAlchemy would raise it (IntegrityError,
OperationalError..., the driver's error as `orig`), a lost connection invalidated first.

Refused (Unplannable; run such statements through SQLAlchemy): expanding (IN) parameters,
and columns left out whose default is SQL or a sequence. A callable default is called
without an execution context (as SQLAlchemy calls one that takes no argument).

On SQLite a statement runs on the driver's cursor. On PostgreSQL it goes on libpq's
pipeline (`storage.wire`: psycopg's adapters and prepared statements, not its cursor),
BEGIN in front of a transaction's first: alone, a round trip. Inside `pipeline()`, `send()`
queues a statement without waiting for its answer and the answers come back together when
one is read: a lead's record is three round trips instead of ten (four when it settles no
hold), its store three instead of five, each one write to the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util.concurrency import greenlet_spawn

if TYPE_CHECKING:
    from pingtree.storage.wire import Sent, Wire

Processor = Callable[[Any], Any] | None
_REQUIRED = object()


@dataclass(frozen=True, slots=True)
class _Computed:
    """A column default computed for each row (SQLAlchemy's wrapped callable)."""

    make: Callable[[Any], Any]


class Unplannable(Exception):
    """A statement direct execution does not take (SQLAlchemy runs it)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement compiled for one dialect and set of columns: ready for the driver."""

    sql: str
    params: tuple[tuple[str, Any, Processor], ...]
    """In the SQL's order, each parameter's key in the caller's mapping, its value when the
    caller gives none (_REQUIRED: none) and its bind processor."""
    placeholders: tuple[str, ...] | None
    """Named styles (PostgreSQL): each parameter's name in the SQL; None: positional."""
    results: tuple[Processor, ...]
    """Each result column's processor (RETURNING, SELECT)."""
    given: tuple[str, ...] | None = None
    """When the caller gives every parameter: their keys in the SQL's order (the fast path)."""
    processed: tuple[tuple[int, Callable[[Any], Any]], ...] = ()
    """The parameters with a bind processor: their place and processor."""

    wire: tuple[bytes, tuple[int, ...]] | None = None
    """PostgreSQL: the SQL numbered as the server takes it, and for each number the place of
    its parameter (`storage.wire` sends it)."""

    def row(self, params: Mapping[str, Any]) -> Any:
        """One row of parameters as the driver takes it."""
        values = self.values(params)
        if self.placeholders is None:
            return values
        return dict(zip(self.placeholders, values, strict=True))

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        """One row's values, processed, in the plan's order."""
        if self.given is None:
            return self._with_defaults(params)
        values = [params[name] for name in self.given]  # a lead's: no defaults to look for
        for place, process in self.processed:
            value = values[place]
            if value is not None:
                values[place] = process(value)
        return values

    def numbered(self, params: Mapping[str, Any]) -> list[Any]:
        """One row's values in the order of the wire's numbers."""
        assert self.wire is not None
        values = self.values(params)
        return [values[place] for place in self.wire[1]]

    def _with_defaults(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, default, process in self.params:
            value = params.get(name, default)
            if value is _REQUIRED:
                raise KeyError(f"direct execution: no value for parameter {name!r}")
            if type(value) is _Computed:
                value = value.make(None)  # a column's callable default, per row
            if process is not None and value is not None:
                value = process(value)
            values.append(value)
        return values


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a statement did: rows it matched or wrote, and the rows it returned."""

    rowcount: int
    rows: list[tuple[Any, ...]]

    def one_or_none(self) -> tuple[Any, ...] | None:
        if len(self.rows) > 1:
            raise ValueError(f"expected at most one row, got {len(self.rows)}")
        return self.rows[0] if self.rows else None


MAX_PLANS = 1024
"""Plans kept at most (a lead's path needs a few dozen); past it they are planned afresh."""
_plans: dict[tuple[int, str, tuple[str, ...], bool], tuple[Any, Plan]] = {}


def plan(statement: Any, dialect: Dialect, keys: Sequence[str], many: bool = False) -> Plan:
    """The statement's plan for this dialect and these parameter keys (built once).

    The statement must live as long as the process (built once, at import): plans are
    kept by its identity.
    """
    key = (id(statement), dialect.name, tuple(keys), many)
    found = _plans.get(key)
    if found is not None and found[0] is statement:
        return found[1]
    made = _make_plan(statement, dialect, keys, many)
    if len(_plans) >= MAX_PLANS:  # statements built per call would otherwise pile up here
        _plans.clear()
    _plans[key] = (statement, made)  # the statement kept: its id is never reused
    return made


def _make_plan(statement: Any, dialect: Dialect, keys: Sequence[str], many: bool) -> Plan:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=many)
    if not isinstance(compiled, SQLCompiler):
        raise Unplannable(f"not a SQL statement: {type(statement).__name__}")
    if compiled._render_postcompile or any(
        bind.expanding or bind.literal_execute for bind in compiled.binds.values()
    ):
        raise Unplannable("expanding or literal parameters")
    prefetch = {col.key: col.default for col in compiled.insert_prefetch}
    prefetch |= {col.key: col.onupdate for col in compiled.update_prefetch}
    order: Sequence[str] = (
        compiled.positiontup if compiled.positiontup is not None else list(compiled.binds)
    )
    names: list[str] = []
    defaults: list[Any] = []
    processors: list[Processor] = []
    bind_processors = compiled._bind_processors
    for name in order:
        bind = compiled.binds[name]
        names.append(bind.key)
        if bind.key in prefetch and bind.key not in keys:
            default: Any = prefetch[bind.key]
            if default is None or not (default.is_scalar or default.is_callable):
                raise Unplannable(f"column {bind.key!r} has a SQL or sequence default")
            defaults.append(default.arg if default.is_scalar else _Computed(default.arg))
        elif bind.required or bind.key in keys:
            defaults.append(_REQUIRED)
        else:
            defaults.append(bind.effective_value)
        processors.append(cast(Processor, bind_processors.get(name)))
    placeholders = None
    if compiled.positiontup is None:
        escaped = compiled.escaped_bind_names
        placeholders = tuple(escaped.get(name, name) for name in order)
    results = tuple(
        column.type._cached_result_processor(dialect, None) for column in compiled._result_columns
    )
    every_given = all(d is _REQUIRED and n in keys for n, d in zip(names, defaults, strict=True))
    wire = None
    if dialect.name == "postgresql" and placeholders is not None:
        from pingtree.storage.wire import numbered

        query, numbers = numbered(compiled.string)
        wire = (query, tuple(placeholders.index(name) for name in numbers))
    return Plan(
        wire=wire,
        sql=compiled.string,
        params=tuple(zip(names, defaults, processors, strict=True)),
        placeholders=placeholders,
        results=results,
        given=tuple(names) if every_given else None,
        processed=tuple((i, p) for i, p in enumerate(processors) if p is not None),
    )


async def execute(
    conn: AsyncConnection,
    statement: Any,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> Outcome:
    """Run a statement (one row of parameters, or several: executemany) in conn's
    transaction; what it did. Every row of several must give the same keys."""
    return await (await send(conn, statement, params)).outcome()


async def send(
    conn: AsyncConnection,
    statement: Any,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> Pending:
    """execute() without waiting for the answer inside a `pipeline()` block (PostgreSQL):
    the statement is on its way, its outcome (and any error it meets) comes with the next
    statement whose outcome is read, or at the block's end. Elsewhere it has run."""
    many = not isinstance(params, Mapping)
    rows: Sequence[Mapping[str, Any]] = params if many else [params]  # type: ignore[assignment,list-item]
    if not rows:
        return Pending.done(Outcome(0, []))
    dialect = conn.dialect
    the_plan = plan(statement, dialect, list(rows[0]), many)
    sync, driver = await _in_transaction(conn)
    if sync is not None and _watched(sync.dispatch.before_cursor_execute):
        # engine events still see every statement (tests, tracing)
        values = [the_plan.row(row) for row in rows] if many else the_plan.row(rows[0])
        sync.dispatch.before_cursor_execute(sync, None, the_plan.sql, values, None, many)
    if the_plan.wire is not None:
        sent = await _send_on_wire(conn, the_plan, driver, rows, many)
    else:
        sent = await _send_on_cursor(conn, the_plan, driver, rows, many)
    if sync is not None and sync.dispatch.after_cursor_execute:
        sync.dispatch.after_cursor_execute(sync, None, the_plan.sql, None, None, many)
    return sent


async def _send_on_wire(
    conn: AsyncConnection,
    the_plan: Plan,
    driver: Any,
    rows: Sequence[Mapping[str, Any]],
    many: bool,
) -> Pending:
    """PostgreSQL: on the pipeline() block's wire (answered later), or on a wire of its own."""
    import psycopg

    from pingtree.storage.wire import opened

    assert the_plan.wire is not None
    query, values = the_plan.wire[0], [the_plan.numbered(row) for row in rows]
    piped = _wires.get(id(driver))
    try:
        if piped is not None:  # a pipeline() block's: answered when one is read
            return Pending(conn, the_plan, many, piped, piped.syncs, piped.send(query, values))
        async with opened(driver) as wire:  # answered when the block ends
            return Pending(conn, the_plan, many, wire, wire.syncs, wire.send(query, values))
    except psycopg.Error as exc:
        raise await _wrapped(conn, the_plan.sql, exc, many) from exc


async def _send_on_cursor(
    conn: AsyncConnection,
    the_plan: Plan,
    driver: Any,
    rows: Sequence[Mapping[str, Any]],
    many: bool,
) -> Pending:
    """SQLite: on the driver's cursor, run now."""
    values = [the_plan.row(row) for row in rows] if many else the_plan.row(rows[0])
    cursor = driver.cursor()
    try:
        if many:
            await cursor.executemany(the_plan.sql, values)
        else:
            await cursor.execute(the_plan.sql, values)
        found = [] if many or cursor.description is None else list(await cursor.fetchall())
        count = cursor.rowcount
        await _close(cursor)
    except _driver_error(conn.dialect) as exc:
        raise await _wrapped(conn, the_plan.sql, exc, many) from exc
    return Pending.done(Outcome(count, _processed(the_plan, found)))


async def _in_transaction(conn: AsyncConnection) -> tuple[Any, Any]:
    """conn's SQLAlchemy connection (None when it has none yet) and its driver connection,
    a transaction begun: SQLAlchemy's autobegin, so the caller's commit() commits it."""
    if not conn.in_transaction():
        await conn.begin()
    sync = conn.sync_connection
    if sync is None or sync.invalidated or sync.closed:
        fairy = await conn.get_raw_connection()  # reconnects, as a statement would
    else:
        fairy = sync.connection
    return sync, fairy.driver_connection


async def autocommit(engine: AsyncEngine, statement: Any, params: Mapping[str, Any]) -> Outcome:
    """Run one statement on its own (autocommit) on a connection of engine's pool: what it
    did. Meant for PostgreSQL's one-statement cap hold (a lead takes one per post).

    Through SQLAlchemy's Connection such a statement costs more than the statement itself
    (about 130 µs of CPU and as much waiting: the switch to autocommit and back through
    its greenlets, the close in a task of its own); here the pooled connection is checked
    out and back in as SQLAlchemy would (the pool's events, its ping after idling, its
    reset on return) and the statement goes on the wire without a BEGIN, a transaction of
    its own that commits when it is answered (`storage.wire`). A driver error is
    raised as `execute()` raises it. A lost connection invalidates the pool's connections;
    one whose state is unknown (cancelled midway) is closed, not put back.

    Where a listener watches the engine's statements (`before_cursor_execute` on this
    engine: tracing, a test counting statements), or on SQLite, the statement runs through
    a SQLAlchemy Connection instead, so the listener sees it.
    """
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect
    if dialect.name != "postgresql" or sync_engine.dispatch.before_cursor_execute.listeners:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await execute(conn, statement, params)
    the_plan = plan(statement, dialect, list(params))
    pool = sync_engine.pool
    try:
        fairy = await greenlet_spawn(pool.connect)
    except _driver_error(dialect) as exc:  # cannot connect: raised as engine.connect() would
        raise _as_sqlalchemy(dialect, the_plan.sql, exc, False, False) from exc
    driver: Any = fairy.driver_connection
    from pingtree.storage.wire import opened

    assert the_plan.wire is not None
    try:
        # No BEGIN: the statement is a transaction of its own, committed with its answer.
        async with opened(driver, begin=False) as wire:
            sent = wire.send(the_plan.wire[0], [the_plan.numbered(params)])
        found, count = sent.rows, sent.rowcount
    except BaseException as exc:
        failed = isinstance(exc, _driver_error(dialect))
        lost = failed and _is_disconnect(dialect, cast(Exception, exc), driver)
        if lost:  # as SQLAlchemy does: the pool's older connections are suspect too
            await greenlet_spawn(pool._invalidate, fairy, exc)
        elif failed and await _sound(driver):  # the statement's own error (a refused hold)
            await _check_in(pool, fairy)
        else:
            await greenlet_spawn(fairy.invalidate, exc if isinstance(exc, Exception) else None)
        if failed:
            raise _as_sqlalchemy(dialect, the_plan.sql, cast(Exception, exc), lost, False) from exc
        raise
    # Done: a connection left in a transaction or lost is closed, the outcome stands. A
    # sound one is out of any transaction: it goes back without the pool's rollback on
    # return (nothing to roll back; a hop to SQLAlchemy's greenlet and some 30 us less).
    if await _sound(driver):
        await _check_in(pool, fairy)
    else:
        await greenlet_spawn(fairy.invalidate)
    return Outcome(count, _processed(the_plan, found))


async def _check_in(pool: Any, fairy: Any) -> None:
    """A sound connection back to its pool without the rollback on return. A pool with room
    keeps it: put back here, no hop. A full one (the connection was opened past pool_size)
    closes it, and closing awaits the driver: that goes through SQLAlchemy's greenlet, as
    anything that may await must (else MissingGreenlet, and the server's backend is left
    open until the garbage collector finds the connection)."""
    if isinstance(pool, QueuePool) and pool.checkedin() < pool.size():
        fairy._close_special(transaction_reset=True)
    else:
        await greenlet_spawn(fairy._close_special, transaction_reset=True)


async def _sound(driver: Any) -> bool:
    """Whether a connection can go back to the pool: open, and out of any transaction."""
    import psycopg

    return not (driver.closed or driver.broken) and (
        driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    )


class Pending:
    """A statement sent: its outcome, read once its answer is in."""

    __slots__ = ("_after", "_conn", "_many", "_outcome", "_plan", "_sent", "_wire")

    def __init__(
        self,
        conn: AsyncConnection | None,
        the_plan: Plan | None,
        many: bool,
        wire: Wire | None,
        after: int,
        sent: Sent | None,
    ) -> None:
        """after: the wire's reads before it was sent; sent: what comes back for it."""
        self._conn, self._plan, self._many = conn, the_plan, many
        self._wire, self._after, self._sent = wire, after, sent
        self._outcome: Outcome | None = None

    @property
    def answered(self) -> bool:
        """Its answer is in: its outcome is read without waiting (always, outside a pipeline)."""
        wire = self._wire
        return self._outcome is not None or wire is None or wire.closed or wire.syncs > self._after

    @classmethod
    def done(cls, outcome: Outcome) -> Pending:
        sent = cls(None, None, False, None, 0, None)
        sent._outcome = outcome
        return sent

    async def outcome(self) -> Outcome:
        """What the statement did (waits for its answer: a round trip for the statements
        sent since the last one, in a pipeline)."""
        if self._outcome is not None:
            return self._outcome
        conn, the_plan, sent = self._conn, self._plan, self._sent
        assert conn is not None and the_plan is not None and sent is not None
        try:
            if not self.answered:
                assert self._wire is not None
                await self._wire.sync()
            if sent.error is not None:
                raise sent.error
            if not sent.answered:
                raise _lost_answer()
        except _driver_error(conn.dialect) as exc:
            raise await _wrapped(conn, the_plan.sql, exc, self._many) from exc
        found = [] if self._many else sent.rows
        self._outcome = Outcome(sent.rowcount, _processed(the_plan, found))
        return self._outcome


def _lost_answer() -> Exception:
    import psycopg

    return psycopg.OperationalError("no answer came: the connection was lost or cut off")


def _processed(the_plan: Plan, found: list[Any]) -> list[tuple[Any, ...]]:
    """Rows as SQLAlchemy would give them: each column through its result processor."""
    if any(the_plan.results) and found:
        processors = the_plan.results
        return [
            tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
            for row in found
        ]
    return [tuple(row) for row in found]


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """`engine.begin()` and `pipeline(conn, commit=True)` in one: a transaction whose
    statements go without waiting for their answers and commit in its last round trip.

    The pooled connection is checked out and its transaction begun in one hop to
    SQLAlchemy's greenlet, and committed and put back in one (engine.begin() takes four:
    some 100 µs of CPU a transaction); the same events fire, the same pool is used."""
    sync_engine = engine.sync_engine

    def start() -> Any:
        sync = sync_engine.connect()
        try:
            sync.begin()
        except BaseException:
            sync.close()
            raise
        return sync

    def end(commit: bool) -> None:
        try:
            if commit:
                sync.commit()
            else:
                sync.rollback()
        finally:
            sync.close()

    sync = await greenlet_spawn(start)
    conn = AsyncConnection(engine, sync)
    try:
        async with pipeline(conn, commit=True):
            yield conn
    except BaseException:
        await greenlet_spawn(end, False)
        raise
    await greenlet_spawn(end, True)


_wires: dict[int, Wire] = {}
"""The open pipeline() blocks' wires, by their driver connection's id."""


@asynccontextmanager
async def pipeline(conn: AsyncConnection, *, commit: bool = False) -> AsyncIterator[None]:
    """On PostgreSQL, statements sent in the block (`send`) go without waiting for their
    answers: the answers come back together when one is read (`execute`,
    `Pending.outcome()`) and at the block's end. A transaction of ten statements whose
    answers nothing reads midway is two or three round trips instead of ten, and each
    round trip one write to the server (`storage.wire`).

    commit: the transaction commits at the end of the block, in its last round trip (the
    caller's commit then finds nothing left to do); the block must be the transaction's
    last work. An error leaves the block unsent or rolled back, raised as SQLAlchemy would.
    Inside the block only this module's statements may run: one through SQLAlchemy would
    not see its answer (refused: RuntimeError). SQLite: each statement runs as it is sent.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    _, driver = await _in_transaction(conn)
    if id(driver) in _wires:  # nested: the outer block sends and commits
        yield
        return
    import psycopg

    from pingtree.storage.wire import opened

    try:
        async with opened(driver, commit=commit) as wire:
            _wires[id(driver)] = wire
            try:
                yield
            finally:
                del _wires[id(driver)]
    except psycopg.Error as exc:
        raise await _wrapped(conn, "(pipelined statements)", exc, False) from exc


@event.listens_for(Engine, "before_cursor_execute", retval=True)
def _refuse_in_pipeline(
    sync: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
) -> tuple[str, Any]:
    """A statement through SQLAlchemy in a pipeline() block would not see its answer.
    (retval: SQLAlchemy keeps the function itself as the listener, so `_watched` knows it.)"""
    if _wires and context is not None and id(sync.connection.driver_connection) in _wires:
        raise RuntimeError(
            "a statement through SQLAlchemy inside storage.direct.pipeline(): "
            f"run it with direct.send or outside the block ({statement[:60]!r})"
        )
    return statement, params


def _watched(listeners: Any) -> bool:
    """Whether a before_cursor_execute listener other than this module's own would see a
    statement: only then are its parameters worked out a second time to hand them over
    (this module's listener has nothing to check in a statement sent here)."""
    return any(listener is not _refuse_in_pipeline for listener in listeners)


async def _close(cursor: Any) -> None:
    result = cursor.close()
    if hasattr(result, "__await__"):
        await result


def _driver_error(dialect: Dialect) -> type[Exception]:
    """The driver's own base error (SQLAlchemy's adapted module may wrap it)."""
    if dialect.name == "sqlite":
        import sqlite3

        return sqlite3.Error
    import psycopg

    return psycopg.Error


async def _wrapped(conn: AsyncConnection, sql: str, exc: Exception, many: bool) -> BaseException:
    """The driver's error as SQLAlchemy raises it; the connection invalidated if it is lost."""
    dialect = conn.dialect
    sync = conn.sync_connection
    fairy = None if sync is None or sync.invalidated else sync.connection
    lost = _is_disconnect(dialect, exc, fairy.driver_connection if fairy is not None else None)
    if lost:  # as SQLAlchemy does: the pool's older connections are suspect too
        if fairy is not None:
            conn.sync_engine.pool._invalidate(fairy, exc)
        await conn.invalidate(exc)
    return _as_sqlalchemy(dialect, sql, exc, lost, many)


def _is_disconnect(dialect: Dialect, exc: Exception, driver: Any) -> bool:
    """Whether exc means the driver's connection is lost (psycopg: closed or broken)."""
    try:
        return bool(dialect.is_disconnect(exc, driver, None))  # type: ignore[arg-type]
    except Exception:  # a dialect that cannot tell: not a disconnect
        return False


def _as_sqlalchemy(
    dialect: Dialect, sql: str, exc: Exception, lost: bool, many: bool
) -> BaseException:
    return DBAPIError.instance(
        sql,
        None,
        exc,
        _driver_error(dialect),
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=dialect,
        ismulti=many,
    )
