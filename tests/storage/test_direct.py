"""Direct execution writes and reads exactly what SQLAlchemy's execution does, on both
databases, and fails the way it does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Table, bindparam, delete, event, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from pingtree.storage import direct
from pingtree.storage.db import create_engine
from pingtree.storage.tables import AttemptRow, Lead

leads = Lead.__table__
attempts = AttemptRow.__table__
assert isinstance(leads, Table) and isinstance(attempts, Table)
WHEN = datetime(2026, 12, 4, 23, 5, 7, 123456, tzinfo=UTC)
INSERT_LEAD = leads.insert()
INSERT_ATTEMPT = attempts.insert()
RETURNING = (
    update(leads)
    .where(leads.c.id == bindparam("lead"), leads.c.status == "received")
    .values(status=bindparam("status"), revenue=bindparam("revenue", type_=leads.c.revenue.type))
    .returning(leads.c.id, leads.c.revenue, leads.c.received_at, leads.c.fields)
)


def _lead(lead_id: str) -> dict[str, Any]:
    return {
        "id": lead_id,
        "publisher": "acme",
        "vertical": "auto",
        "status": "received",
        "test": False,
        "fields": {"zip": "94107", "age": 41, "names": ["a", "é"]},
        "received_at": WHEN,
    }


def _attempt(lead_id: str, n: int) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "campaign": f"c{n}",
        "buyer": "b",
        "tier": None,
        "kind": "ping",
        "outcome": "accepted",
        "price": Decimal("12.34") + n,
        "reference": None,
        "reason": None,
        "redirect_url": None,
        "started_at": WHEN,
        "duration_ms": 12.5,
        "request": {"url": "http://127.0.0.1/x", "body": {"n": n}},
        "response": {"status": 200},
        "bid_price": None,
        "answer_price": None,
    }


def _rows(table: Table, rows: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in row._mapping.items() if k != "id"} for row in rows]


async def test_direct_execution_stores_and_returns_what_sqlalchemy_does(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(INSERT_LEAD, _lead("by-sqlalchemy"))
            await conn.execute(INSERT_ATTEMPT, [_attempt("by-sqlalchemy", n) for n in range(3)])
        async with engine.begin() as conn:
            done = await direct.execute(conn, INSERT_LEAD, _lead("direct"))
            assert done.rowcount == 1
            many = await direct.execute(
                conn, INSERT_ATTEMPT, [_attempt("direct", n) for n in range(3)]
            )
            assert many.rowcount == 3
        async with engine.connect() as conn:
            stored = {
                lead_id: (
                    _rows(leads, await conn.execute(select(leads).where(leads.c.id == lead_id))),
                    _rows(
                        attempts,
                        await conn.execute(
                            select(attempts)
                            .where(attempts.c.lead_id == lead_id)
                            .order_by(attempts.c.campaign)
                        ),
                    ),
                )
                for lead_id in ("by-sqlalchemy", "direct")
            }
        (lead_a, attempts_a), (lead_b, attempts_b) = stored["by-sqlalchemy"], stored["direct"]
        assert [dict(r, id=None) for r in lead_a] == [dict(r, id=None) for r in lead_b]
        assert [dict(r, lead_id=None) for r in attempts_a] == [
            dict(r, lead_id=None) for r in attempts_b
        ]
        assert attempts_b[1]["price"] == Decimal("13.34")
        assert attempts_b[0]["test"] is False  # the column's default, filled in

        # RETURNING rows come back through the columns' result types
        async with engine.begin() as conn:
            params = {"lead": "direct", "status": "sold", "revenue": Decimal("7.05")}
            returned = await direct.execute(conn, RETURNING, params)
            again = await direct.execute(conn, RETURNING, params)  # no longer 'received'
        async with engine.begin() as conn:
            params = {"lead": "by-sqlalchemy", "status": "sold", "revenue": Decimal("7.05")}
            expected = (await conn.execute(RETURNING, params)).one()
        assert returned.rowcount == 1 and again.rowcount == 0 and again.rows == []
        row = returned.one_or_none()
        assert row is not None
        assert row[1:] == tuple(expected)[1:]
        assert row[1] == Decimal("7.05") and row[2] == WHEN
        assert row[3] == {"zip": "94107", "age": 41, "names": ["a", "é"]}
    finally:
        await engine.dispose()


def test_statements_direct_execution_does_not_take_are_refused() -> None:
    from sqlalchemy.dialects import sqlite

    expanding = select(leads.c.id).where(leads.c.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(direct.Unplannable):
        direct.plan(expanding, sqlite.dialect(), ["ids"])
    with pytest.raises(KeyError, match="zip"):
        direct.plan(
            select(leads.c.id).where(leads.c.id == bindparam("zip")), sqlite.dialect(), []
        ).row({})


async def test_a_statement_outside_a_transaction_begins_one_that_commit_commits(
    database_url: str,
) -> None:
    # As SQLAlchemy's execute() does (autobegin): otherwise the connection's return to the
    # pool would roll the write back, and commit() would have nothing to commit.
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            await direct.execute(conn, INSERT_LEAD, _lead("autobegun"))
            assert conn.in_transaction()
            await conn.commit()
        async with engine.connect() as conn:
            assert await conn.scalar(select(leads.c.id)) == "autobegun"
            await conn.execute(delete(leads))
            await conn.commit()
    finally:
        await engine.dispose()


def test_plans_are_kept_once_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    first = direct.plan(INSERT_LEAD, dialect, ["id"])
    assert direct.plan(INSERT_LEAD, dialect, ["id"]) is first  # planned once
    monkeypatch.setattr(direct, "MAX_PLANS", 3)
    for n in range(10):  # statements built per call: the plans do not pile up
        direct.plan(select(leads.c.id).where(leads.c.id == str(n)), dialect, [])
    assert len(direct._plans) <= 3


COUNT_ATTEMPTS = (
    select(func.count()).select_from(attempts).where(attempts.c.lead_id == bindparam("lead"))
)


async def test_statements_sent_in_a_pipeline_land_with_its_commit_and_answer_when_read(
    database_url: str,
) -> None:
    postgres = database_url.startswith("postgresql")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn, direct.pipeline(conn, commit=True):
            stored = await direct.send(conn, INSERT_LEAD, _lead("piped"))
            await direct.send(conn, INSERT_ATTEMPT, [_attempt("piped", n) for n in range(3)])
            # On PostgreSQL nothing has been answered yet; on SQLite each statement has run.
            assert stored.answered is not postgres
            counted = await direct.execute(conn, COUNT_ATTEMPTS, {"lead": "piped"})
            assert counted.rows == [(3,)]  # reading an answer brings the earlier ones too
            assert stored.answered
            sold = await direct.send(
                conn, RETURNING, {"lead": "piped", "status": "sold", "revenue": Decimal("7.50")}
            )
        assert (await sold.outcome()).rows[0][:2] == ("piped", Decimal("7.50"))
        async with engine.connect() as conn:  # committed: another connection sees all of it
            status = await conn.scalar(select(leads.c.status).where(leads.c.id == "piped"))
            assert status == "sold"
            assert (await direct.execute(conn, COUNT_ATTEMPTS, {"lead": "piped"})).rows == [(3,)]
        async with engine.begin() as conn:
            await conn.execute(delete(attempts))
            await conn.execute(delete(leads))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("surfaces", ["at once", "at the next read", "at the commit"])
async def test_a_failed_statement_fails_its_transaction_as_sqlalchemy_raises_it(
    database_url: str, surfaces: str
) -> None:
    # At once: executed outside a pipeline. In a pipeline (PostgreSQL) it is raised with the
    # next answer read, or at the commit; SQLite runs each statement as it is sent.
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await direct.execute(conn, INSERT_LEAD, _lead("once"))
        with pytest.raises(IntegrityError) as raised:
            async with engine.begin() as conn:
                if surfaces == "at once":
                    await direct.execute(conn, INSERT_LEAD, _lead("twice"))
                    await direct.execute(conn, INSERT_LEAD, _lead("once"))
                    pytest.fail("the failed insert was not raised")
                async with direct.pipeline(conn, commit=True):
                    await direct.send(conn, INSERT_LEAD, _lead("twice"))
                    await direct.send(conn, INSERT_LEAD, _lead("once"))
                    await direct.send(conn, INSERT_ATTEMPT, [_attempt("twice", 1)])
                    if surfaces == "at the next read":
                        await direct.execute(conn, COUNT_ATTEMPTS, {"lead": "twice"})
                        pytest.fail("the failed insert was not raised")
        assert raised.value.orig is not None
        assert "94107" not in str(raised.value)  # parameters (PII) never in the text
        async with engine.begin() as conn:  # nothing of it landed; the connection is fine
            ids = (await conn.scalars(select(leads.c.id))).all()
            assert ids == ["once"]
            assert (await direct.execute(conn, COUNT_ATTEMPTS, {"lead": "twice"})).rows == [(0,)]
            await conn.execute(delete(leads))
    finally:
        await engine.dispose()


async def test_a_statement_through_sqlalchemy_inside_a_pipeline_is_refused(
    database_url: str,
) -> None:
    # It would not see its answer (psycopg answers it later): refused, never silently empty.
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn, direct.pipeline(conn):
            await direct.send(conn, INSERT_LEAD, _lead("mixed"))
            if database_url.startswith("postgresql"):
                with pytest.raises(RuntimeError, match=r"inside storage\.direct\.pipeline"):
                    await conn.execute(select(leads.c.id))
            else:  # SQLite runs each statement as it is sent: nothing to refuse
                assert (await conn.scalars(select(leads.c.id))).all() == ["mixed"]
            await direct.send(conn, delete(leads), {})
    finally:
        await engine.dispose()


async def test_a_statement_run_on_its_own_commits_and_answers_as_in_a_transaction(
    database_url: str,
) -> None:
    # On PostgreSQL past SQLAlchemy's Connection, on SQLite through it: the same outcome,
    # rows through the columns' result types, and the pooled connection back as it was.
    engine = create_engine(database_url)
    try:
        await direct.autocommit(engine, INSERT_LEAD, _lead("alone"))
        params = {"lead": "alone", "status": "sold", "revenue": Decimal("7.05")}
        returned = await direct.autocommit(engine, RETURNING, params)
        assert returned.rowcount == 1
        assert returned.rows == [("alone", Decimal("7.05"), WHEN, _lead("alone")["fields"])]
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with engine.connect() as conn:  # committed: another transaction sees it
            assert await conn.scalar(select(leads.c.status)) == "sold"
        async with engine.connect() as conn:  # the connection is out of autocommit again
            await direct.execute(conn, INSERT_LEAD, _lead("rolled back"))
            await conn.rollback()
            assert (await conn.scalars(select(leads.c.id))).all() == ["alone"]
            await conn.execute(delete(leads))
            await conn.commit()
    finally:
        await engine.dispose()


async def test_a_statement_on_its_own_fails_as_sqlalchemy_raises_it_and_its_connection_is_kept(
    database_url: str,
) -> None:
    # A refused hold fails its statement (on purpose): an everyday answer, so the
    # connection goes back to the pool, out of autocommit, not closed.
    engine = create_engine(database_url)
    try:
        await direct.autocommit(engine, INSERT_LEAD, _lead("kept"))
        async with engine.connect() as conn:
            first = (await conn.get_raw_connection()).driver_connection
        with pytest.raises(IntegrityError) as raised:
            await direct.autocommit(engine, INSERT_LEAD, _lead("kept"))
        assert not raised.value.connection_invalidated
        assert "94107" not in str(raised.value)  # parameters (PII) never in the text
        async with engine.connect() as conn:
            assert (await conn.get_raw_connection()).driver_connection is first
            await direct.execute(conn, INSERT_LEAD, _lead("rolled back"))
            await conn.rollback()
            assert (await conn.scalars(select(leads.c.id))).all() == ["kept"]
    finally:
        await engine.dispose()


async def test_a_statement_on_its_own_goes_back_to_the_pool_without_a_rollback(
    postgres_url: str,
) -> None:
    # Its connection is out of any transaction when it is answered (or refused): the pool's
    # rollback on return would have nothing to do, so it is not sent.
    engine = create_engine(postgres_url)
    resets: list[bool] = []

    def reset(_dbapi: Any, _record: Any, state: Any) -> None:
        resets.append(state.transaction_was_reset)

    event.listen(engine.sync_engine.pool, "reset", reset)
    try:
        await direct.autocommit(engine, INSERT_LEAD, _lead("once"))
        with pytest.raises(IntegrityError):
            await direct.autocommit(engine, INSERT_LEAD, _lead("once"))
        assert resets == [True, True]
        async with engine.connect() as conn:  # what it wrote stands
            assert (await conn.scalars(select(leads.c.id))).all() == ["once"]
    finally:
        await engine.dispose()


async def test_a_statement_on_its_own_is_seen_by_the_engines_listeners(
    database_url: str,
) -> None:
    # Tracing and tests count statements with engine events: a watched engine runs it
    # through a SQLAlchemy Connection, so the listener sees it.
    engine = create_engine(database_url)
    seen: list[str] = []

    def note(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(conn.get_execution_options().get("isolation_level", ""))

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        await direct.autocommit(engine, INSERT_LEAD, _lead("watched"))
        assert seen == ["AUTOCOMMIT"]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)
        await engine.dispose()


async def test_parameters_are_worked_out_once_unless_a_listener_wants_them(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Handing parameters to a listener costs a second pass over every row: only done when
    # one (other than direct's own) listens, and then it sees every row.
    engine = create_engine(database_url)
    passes: list[int] = []
    row, numbered = direct.Plan.row, direct.Plan.numbered

    def counted_row(self: direct.Plan, values: Any) -> Any:
        passes.append(1)
        return row(self, values)

    def counted_numbered(self: direct.Plan, values: Any) -> Any:
        passes.append(1)
        return numbered(self, values)

    monkeypatch.setattr(direct.Plan, "row", counted_row)
    monkeypatch.setattr(direct.Plan, "numbered", counted_numbered)
    seen: list[Any] = []

    def note(_conn: Any, _cursor: Any, _statement: str, params: Any, *_: Any) -> None:
        seen.append(params)

    try:
        async with direct.transaction(engine) as conn:
            await direct.send(conn, INSERT_LEAD, _lead("once"))
            await direct.send(conn, INSERT_ATTEMPT, [_attempt("once", n) for n in range(3)])
        assert len(passes) == 4  # one pass a row
        passes.clear()
        event.listen(engine.sync_engine, "before_cursor_execute", note)
        async with direct.transaction(engine) as conn:
            await direct.send(conn, INSERT_ATTEMPT, [_attempt("once", n) for n in range(3)])
        assert len(passes) == 6 and len(seen) == 1 and len(seen[0]) == 3
    finally:
        if event.contains(engine.sync_engine, "before_cursor_execute", note):
            event.remove(engine.sync_engine, "before_cursor_execute", note)
        await engine.dispose()


async def test_a_lost_or_cut_off_connection_is_not_put_back(postgres_url: str) -> None:
    database_url = postgres_url
    engine = create_engine(database_url)
    try:
        pid = (await direct.autocommit(engine, text("SELECT pg_backend_pid()"), {})).rows[0][0]
        async with create_engine(database_url).connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await other.close()
        with pytest.raises(DBAPIError) as raised:
            await direct.autocommit(engine, INSERT_LEAD, _lead("lost"))
        assert raised.value.connection_invalidated  # so writes that must land are retried
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        await direct.autocommit(engine, INSERT_LEAD, _lead("after"))  # a new connection

        # Cut off mid-statement (its caller cancelled): the connection is closed, not reused
        # with an answer still on its way.
        sleeping = asyncio.ensure_future(
            direct.autocommit(engine, text("SELECT pg_backend_pid(), pg_sleep(5)"), {})
        )
        await asyncio.sleep(0.3)
        sleeping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeping
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        ids = (await direct.autocommit(engine, select(leads.c.id), {})).rows
        assert ids == [("after",)]
    finally:
        await engine.dispose()


async def test_a_statement_on_its_own_that_cannot_connect_fails_as_sqlalchemy_raises_it(
    postgres_url: str,
) -> None:
    # PostgreSQL not there: SQLAlchemy's OperationalError (what callers tell an outage by).
    from sqlalchemy.exc import OperationalError

    from pingtree.storage.db import is_unreachable

    database_url = postgres_url
    nowhere = database_url.replace("127.0.0.1:5432", "127.0.0.1:9")  # nothing listens there
    assert nowhere != database_url
    engine = create_engine(nowhere)
    try:
        with pytest.raises(OperationalError) as raised:
            await direct.autocommit(engine, INSERT_LEAD, _lead("nowhere"))
        assert is_unreachable(raised.value)
    finally:
        await engine.dispose()


async def test_a_lost_connection_in_a_transaction_is_raised_as_lost(postgres_url: str) -> None:
    # psycopg says so by the connection (closed or broken), not by the error's text.
    database_url = postgres_url
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            pid = (await direct.execute(conn, text("SELECT pg_backend_pid()"), {})).rows[0][0]
            async with create_engine(database_url).connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                await other.close()
            with pytest.raises(DBAPIError) as raised:
                await direct.execute(conn, INSERT_LEAD, _lead("lost"))
            assert raised.value.connection_invalidated
            assert conn.invalidated
        async with engine.begin() as conn:  # a new connection
            await direct.execute(conn, INSERT_LEAD, _lead("after"))
    finally:
        await engine.dispose()


async def test_a_transaction_commits_its_statements_at_its_end_and_nothing_on_an_error(
    database_url: str,
) -> None:
    # direct.transaction: engine.begin() and pipeline(commit=True) in one. Its commit is
    # SQLAlchemy's (the engine's commit event fires); an error leaves nothing and puts the
    # connection back.
    engine = create_engine(database_url)
    commits: list[str] = []
    event.listen(engine.sync_engine, "commit", lambda _conn: commits.append("commit"))
    try:
        async with direct.transaction(engine) as conn:
            await direct.send(conn, INSERT_LEAD, _lead("kept"))
            await direct.send(conn, INSERT_ATTEMPT, [_attempt("kept", n) for n in range(2)])
        assert commits == ["commit"]
        with pytest.raises(ZeroDivisionError):
            async with direct.transaction(engine) as conn:
                await direct.send(conn, INSERT_LEAD, _lead("dropped"))
                1 / 0  # noqa: B018
        with pytest.raises(IntegrityError):
            async with direct.transaction(engine) as conn:
                await direct.send(conn, INSERT_LEAD, _lead("also-dropped"))
                await direct.send(conn, INSERT_LEAD, _lead("kept"))
        assert commits == ["commit"]
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with engine.begin() as conn:
            assert (await conn.scalars(select(leads.c.id))).all() == ["kept"]
            assert (await direct.execute(conn, COUNT_ATTEMPTS, {"lead": "kept"})).rows == [(2,)]
            await conn.execute(delete(attempts))
            await conn.execute(delete(leads))
    finally:
        await engine.dispose()


async def test_a_statement_on_its_own_closes_an_overflow_connection_it_gives_back(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Under load the pool opens connections past its size (max_overflow); given back to a
    # full pool such a connection is closed, and closing awaits the driver: it must happen
    # where SQLAlchemy can await (else MissingGreenlet, logged, and the server's backend
    # left open until the garbage collector finds the connection), on success and on a
    # statement's own error alike.
    engine = create_engine(postgres_url, pool_size=1, max_overflow=4)
    pool: Any = engine.sync_engine.pool
    opened: list[Any] = []
    event.listen(engine.sync_engine, "connect", lambda dbapi, _record: opened.append(dbapi))
    slow = text("SELECT pg_sleep(0.05)")
    try:
        await direct.autocommit(engine, INSERT_LEAD, _lead("taken"))
        await asyncio.gather(*(direct.autocommit(engine, slow, {}) for _ in range(5)))
        refused = [direct.autocommit(engine, INSERT_LEAD, _lead("taken")) for _ in range(5)]
        failed = await asyncio.gather(*refused, return_exceptions=True)
        assert all(isinstance(f, IntegrityError) for f in failed)
        assert pool.checkedout() == 0 and pool.checkedin() == 1
        assert len(opened) > 1  # overflow connections were opened
        still_open = [c for c in opened if not c.driver_connection.closed]
        assert len(still_open) == 1, "an overflow connection given back was left open"
        assert "Exception closing connection" not in caplog.text
        assert "MissingGreenlet" not in caplog.text
    finally:
        await engine.dispose()
