"""A PostgreSQL connection's statements on libpq's pipeline, past psycopg's cursor.

psycopg's own pipeline mode sends each statement (each row of an executemany) on its
own: a poll and a socket write per statement, so the server wakes once per statement,
and a cursor, a transformer and psycopg's bookkeeping around each. A lead's store and
record are a dozen statements and more; here they are queued in libpq's output buffer
and leave in one write when an answer is wanted (`Wire.sync`), their answers read back
in one pass. What each statement becomes on the wire is what psycopg's cursor would
send: the same parameters dumped by psycopg's adapters (a `Transformer` of the
connection), prepared under psycopg's own prepared-statement cache (so its rules for
when to prepare and when to forget, after a rollback or a DROP, hold for these too), the
rows loaded by the same loaders; an error is psycopg's error for that result.

Used by `storage.direct` for PostgreSQL only. A wire is opened on an idle connection
SQLAlchemy owns; while it is open nothing else may use that connection (direct's guard
refuses SQLAlchemy statements on it). A wire that cannot be left cleanly (the connection
lost, or cancelled with answers still to come) closes the connection, so SQLAlchemy
drops it instead of reusing it in an unknown state.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections import deque
from collections.abc import AsyncIterator, Generator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import psycopg
from psycopg import abc, errors, pq, waiting
from psycopg._preparing import Prepare
from psycopg.adapt import PyFormat, Transformer
from psycopg.generators import fetch_many, send

_IDLE = pq.TransactionStatus.IDLE
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_FATAL = pq.ExecStatus.FATAL_ERROR
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_PLACEHOLDER = re.compile(r"%%|%\(([^)]+)\)s")


def numbered(sql: str) -> tuple[bytes, tuple[str, ...]]:
    """A statement in psycopg's named style (`%(name)s`, `%%`) as the server takes it
    (`$1`, `%`): its bytes, and the parameter name each number stands for.

    Checked against psycopg's own conversion (ValueError where they differ)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    query = _PLACEHOLDER.sub(number, sql).encode()
    from psycopg._queries import PostgresQuery  # psycopg's own, to check against

    theirs = PostgresQuery(Transformer())
    theirs.convert(sql, dict.fromkeys(names))
    if theirs.query != query:
        raise ValueError(f"psycopg numbers this statement otherwise: {sql[:80]!r}")
    return query, tuple(names)


class _Key:
    """What psycopg's prepared-statement cache keys a statement by."""

    __slots__ = ("query", "types")

    def __init__(self, query: bytes, types: tuple[int, ...] | None) -> None:
        self.query, self.types = query, types


class Sent:
    """A statement (or the rows of an executemany) on the wire: what came back for it."""

    __slots__ = ("answered", "error", "rowcount", "rows")

    def __init__(self) -> None:
        self.answered = False
        self.rowcount = -1
        self.rows: list[tuple[Any, ...]] = []
        self.error: psycopg.Error | None = None


_transformers: weakref.WeakKeyDictionary[Any, tuple[abc.Transformer, abc.Transformer]] = (
    weakref.WeakKeyDictionary()
)


def _transformers_of(driver: Any) -> tuple[abc.Transformer, abc.Transformer]:
    """The connection's transformers (one dumps, one loads), made once per connection."""
    found = _transformers.get(driver)
    if found is None:
        found = _transformers[driver] = (Transformer(driver), Transformer(driver))
    return found


async def _answered(driver: Any, gen: Generator[Any, Any, list[list[Any]]]) -> list[list[Any]]:
    """psycopg's generator gen run to its end on driver: the answers.

    psycopg's own wait (`driver.wait`) registers the socket with the event loop for every
    wait and removes it after: under uvloop some eight system calls a round trip. Busy,
    the loop has other leads' work to run; while it does, the server answers. So the
    answer is first looked for after one turn of the loop (one poll of the socket, no
    wait), and only waited for through the loop when it has not come yet."""
    try:
        state = next(gen)  # sends what is queued, reads what has come
    except StopIteration as done:
        return cast(list[list[Any]], done.value)
    await asyncio.sleep(0)
    fileno = driver.pgconn.socket
    try:
        while ready := _ready(fileno, state):
            try:
                state = gen.send(ready)
            except StopIteration as done:
                return cast(list[list[Any]], done.value)
    except OSError as exc:  # as psycopg's wait takes it
        raise psycopg.OperationalError("connection socket closed") from exc
    return cast(list[list[Any]], await driver.wait(_resumed(state, gen)))


_ready: Any = waiting._ready
"""psycopg's own check of a socket (a poll with no timeout): the Ready it is, 0 for none."""


def _resumed(state: Any, gen: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """gen, already started and waiting for `state`, as a generator psycopg's wait starts."""
    while True:
        ready = yield state
        try:
            state = gen.send(ready)
        except StopIteration as done:
            return done.value


@asynccontextmanager
async def opened(driver: Any, *, begin: bool = True, commit: bool = False) -> AsyncIterator[Wire]:
    """A wire on driver for the block: at its end what was sent is answered (committed
    first with commit) and the connection leaves pipeline mode; on an error in the block
    what was sent is read and ignored, the error raised."""
    wire = Wire(driver, begin=begin)
    try:
        yield wire
    except BaseException:
        await wire.abandon()
        raise
    await wire.close(commit=commit)


class Wire:
    """Statements queued on one psycopg connection in libpq's pipeline mode."""

    __slots__ = ("_dump", "_load", "_pg", "_unread", "closed", "driver", "syncs")

    def __init__(self, driver: Any, *, begin: bool = True) -> None:
        """Enter pipeline mode on driver (an idle psycopg AsyncConnection); with begin, the
        transaction psycopg would begin is begun first (not in autocommit, when idle)."""
        self.driver = driver
        self._pg: Any = driver.pgconn
        self._dump, self._load = _transformers_of(driver)
        self._unread: deque[tuple[Sent | None, Any]] = deque()
        self.syncs = 0
        """How many times the answers were read (a statement sent before the n-th read
        has its answer once syncs >= n)."""
        self.closed = False
        """Left: out of pipeline mode, or its connection closed."""
        if driver.closed:
            raise psycopg.OperationalError("the connection is closed")
        self._pg.enter_pipeline_mode()
        if begin and not driver.autocommit and self._pg.transaction_status == _IDLE:
            self.command(driver._get_tx_start_command())

    def command(self, sql: bytes) -> None:
        """A statement without parameters whose outcome nobody reads (BEGIN, COMMIT): an
        error it meets is raised by the next sync."""
        self._pg.send_query_params(sql, None)
        self._unread.append((None, None))

    def send(self, query: bytes, rows: Sequence[Sequence[Any]]) -> Sent:
        """The statement, once for each row of parameters (in its numbers' order). Every
        row is dumped before any is queued: a value psycopg cannot adapt queues nothing."""
        pg, dump, prepared = self._pg, self._dump, self.driver._prepared
        auto = [PyFormat.AUTO] * (len(rows[0]) if rows else 0)
        dumped = []
        for values in rows:
            params = dump.dump_sequence(values, auto)
            dumped.append((params, dump.types, dump.formats))
        sent = Sent()
        for params, types, formats in dumped:
            key = _Key(query, types)
            prep, name = prepared.get(key, True)
            if prep is Prepare.NO:
                pg.send_query_params(query, params, param_types=types, param_formats=formats)
            else:
                if prep is Prepare.SHOULD:
                    pg.send_prepare(name, query, param_types=types)
                    self._unread.append((None, None))
                pg.send_query_prepared(name, params, param_formats=formats)
            cached = prepared.maybe_add_to_cache(key, prep, name)
            self._unread.append((sent, None if cached is None else (cached, prep, name)))
        return sent

    async def sync(self) -> None:
        """Send what is queued and read every answer up to here; the first error met is
        raised (the statements after it in the transaction did not run)."""
        self._pg.pipeline_sync()
        self._unread.append((None, _SYNC))
        self.syncs += 1
        try:
            answers = await _answered(self.driver, self._flushed_answers(len(self._unread)))
        except BaseException:
            self._lose()  # lost, or cut off with answers on their way
            raise
        first: psycopg.Error | None = None
        prepared = self.driver._prepared
        for results in answers:
            sent, note = self._unread.popleft()
            if note is _SYNC:
                continue
            result = results[-1]
            status = result.status
            if note is not None:  # a statement psycopg's cache took on: it learns how it went
                key, prep, name = note
                prepared.validate(key, prep, name, results)
            if status == _FATAL:
                error = errors.error_from_result(result, encoding=self.driver.info.encoding)
                first = first or error
            elif status == _ABORTED:
                error = errors.PipelineAborted("pipeline aborted")
            elif status not in _OK:
                error = errors.InterfaceError(f"unexpected answer: {pq.ExecStatus(status).name}")
                first = first or error
            else:
                error = None
            if sent is not None:
                self._took(sent, result, error)
            elif error is not None:
                first = first or error
        if first is not None:
            raise first

    def _took(self, sent: Sent, result: Any, error: psycopg.Error | None) -> None:
        sent.answered = True
        if error is not None:
            sent.error = sent.error or error
            return
        count = result.command_tuples
        if count is not None:
            sent.rowcount = count if sent.rowcount < 0 else sent.rowcount + count
        if result.status == pq.ExecStatus.TUPLES_OK and result.ntuples:
            load = self._load
            load.set_pgresult(result)
            sent.rows.extend(load.load_rows(0, result.ntuples, tuple))

    def _flushed_answers(self, count: int) -> Generator[Any, Any, list[list[Any]]]:
        """psycopg's generators: flush, then read `count` answers (the last a sync's)."""
        yield from send(self._pg)
        answers: list[list[Any]] = []
        while len(answers) < count:
            results = yield from fetch_many(self._pg)
            if results:
                answers.append(results)
        return answers

    async def close(self, *, commit: bool = False) -> None:
        """Commit first (with commit), read what is left and leave pipeline mode.

        On an error the connection is left out of pipeline mode when it can be (its
        transaction failed: the caller rolls back), and closed when it cannot."""
        try:
            if commit:
                self.command(b"COMMIT")
            if commit or self._unread:
                await self.sync()
        finally:
            self._leave()

    async def abandon(self) -> None:
        """Leave after the caller's own error: what was sent is read and ignored."""
        try:
            if self._unread and not self.closed:
                await self.sync()
        except psycopg.Error:
            pass  # the caller's error is the one raised; its transaction is rolled back
        finally:
            self._leave()

    def _leave(self) -> None:
        if self.closed:
            return
        if self._unread:  # interrupted before its answers were read
            self._lose()
            return
        self.closed = True
        try:
            self._pg.exit_pipeline_mode()
        except BaseException:
            self._pg.finish()
            raise

    def _lose(self) -> None:
        """What the connection holds is unknown: it is closed (SQLAlchemy then drops it)."""
        self.closed = True
        self._unread.clear()
        self._pg.finish()
