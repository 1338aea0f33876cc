"""PostgreSQL statements on libpq's pipeline (storage.wire): numbered as psycopg numbers
them, prepared under psycopg's own cache, and a connection never reused midway."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from pingtree.storage import direct
from pingtree.storage.db import create_engine
from pingtree.storage.wire import numbered
from tests.storage.test_direct import INSERT_LEAD, _lead, leads


def test_statements_are_numbered_as_psycopg_numbers_them() -> None:
    query, names = numbered("SELECT %(a)s, %(b)s, %(a)s, 'x%%' FROM t WHERE c = %(c_1)s")
    assert query == b"SELECT $1, $2, $1, 'x%' FROM t WHERE c = $3"
    assert names == ("a", "b", "c_1")


async def test_statements_still_run_after_psycopg_forgets_its_prepared_statements(
    postgres_url: str,
) -> None:
    # A rolled-back transaction makes psycopg deallocate every prepared statement of the
    # connection (its own and the wire's): the wire's must be prepared again, not called
    # by a name the server no longer knows.
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await direct.execute(conn, INSERT_LEAD, _lead("first"))
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                for _ in range(6):  # past psycopg's threshold: prepared by psycopg too
                    await conn.execute(select(leads.c.id).where(leads.c.id == "first"))
                await direct.execute(conn, INSERT_LEAD, _lead("first"))
        async with engine.connect() as conn:
            known = await conn.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
            assert known == 0  # the rollback did deallocate them all
        async with engine.begin() as conn:
            await direct.execute(conn, INSERT_LEAD, _lead("second"))
            async with direct.pipeline(conn):
                await direct.send(conn, INSERT_LEAD, _lead("third"))
        async with engine.begin() as conn:
            ids = (await conn.scalars(select(leads.c.id).order_by(leads.c.id))).all()
            assert ids == ["first", "second", "third"]
            await conn.execute(leads.delete())
    finally:
        await engine.dispose()


async def test_a_pipeline_cut_off_midway_closes_its_connection(postgres_url: str) -> None:
    # Cancelled while its answers are on their way: the connection is not put back with
    # answers still to come (the next transaction would read them as its own).
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    try:

        async def slow() -> None:
            async with engine.begin() as conn, direct.pipeline(conn, commit=True):
                await direct.send(conn, INSERT_LEAD, _lead("cut"))
                await direct.execute(conn, select(text("pg_sleep(5)")), {})

        sleeping = asyncio.ensure_future(slow())
        await asyncio.sleep(0.3)
        sleeping.cancel()
        with pytest.raises((asyncio.CancelledError, DBAPIError)):
            await sleeping
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with engine.begin() as conn:
            assert (await direct.execute(conn, select(leads.c.id), {})).rows == []
            await direct.execute(conn, INSERT_LEAD, _lead("after"))
        async with engine.begin() as conn:
            assert (await conn.scalars(select(leads.c.id))).all() == ["after"]
            await conn.execute(leads.delete())
    finally:
        await engine.dispose()


async def test_rows_with_a_value_the_driver_cannot_adapt_are_refused_before_any_is_sent(
    postgres_url: str,
) -> None:
    # The first row must not go ahead of the refusal: inside a block that goes on after the
    # error (and commits), half of an executemany would otherwise land.
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        rows = [_lead("first-half"), {**_lead("second-half"), "publisher": object()}]
        async with engine.begin() as conn, direct.pipeline(conn, commit=True):
            with pytest.raises(DBAPIError, match="cannot adapt"):
                await direct.send(conn, INSERT_LEAD, rows)
            await direct.send(conn, INSERT_LEAD, _lead("after"))
        with pytest.raises(DBAPIError, match="cannot adapt"):
            await direct.autocommit(engine, INSERT_LEAD, rows[1])
        async with engine.begin() as conn:
            assert (await conn.scalars(select(leads.c.id))).all() == ["after"]
            await conn.execute(leads.delete())
    finally:
        await engine.dispose()


async def test_an_answer_already_in_is_read_without_the_loop_watching_the_socket(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Other work on the loop (here one turn that takes 50 ms) gives the server time to
    # answer: the answer is read after that turn, the socket never registered with the
    # loop. One that takes longer is waited for through the loop, and read all the same.
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    loop = asyncio.get_running_loop()
    watched: list[int] = []
    add_reader = loop.add_reader

    def counting(fd: int, *args: object) -> None:
        watched.append(fd)
        add_reader(fd, *args)

    monkeypatch.setattr(loop, "add_reader", counting)

    async def busy_turn() -> None:
        time.sleep(0.05)  # the point: a loop turn that takes a while

    try:
        async with engine.begin() as conn:
            await direct.execute(conn, select(text("1")), {})  # connected, ready
            watched.clear()
            busy = asyncio.ensure_future(busy_turn())
            answer = await direct.execute(conn, select(text("2")), {})
            await busy
            assert answer.rows == [(2,)]
            assert watched == []
            slow = await direct.execute(conn, select(text("3 FROM pg_sleep(0.2)")), {})
            assert slow.rows == [(3,)]
            assert len(watched) >= 1
    finally:
        await engine.dispose()
