"""A lead's database work on the hot path: each post journaled in one unit of work (its cap
hold and its buyer's claim on the person together: one commit on SQLite, one statement on
PostgreSQL), and no statement for claims never taken.

On SQLite and PostgreSQL, counted with SQLAlchemy's engine events.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from pingtree.storage.tables import BuyerPurchase
from tests.engine.conftest import Harness, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier


@contextmanager
def _watching(h: Harness) -> Iterator[tuple[list[str], list[str]]]:
    """(units of work, statements) made on the runtime's engine while the block runs: a unit
    is a commit, or a statement run on its own (autocommit)."""
    commits: list[str] = []
    statements: list[str] = []

    def on_commit(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            commits.append("commit")  # (an autocommit connection's commit commits nothing)

    def on_statement(conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements.append(sql)
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            commits.append("statement")

    sync = h.rt.engine.sync_engine
    event.listen(sync, "commit", on_commit)
    event.listen(sync, "before_cursor_execute", on_statement)
    try:
        yield commits, statements
    finally:
        event.remove(sync, "commit", on_commit)
        event.remove(sync, "before_cursor_execute", on_statement)


async def _configure(h: Harness, *, dedup_days: int) -> None:
    h.buyers(sim_buyer("picky", accept_rate=0.0), sim_buyer("taker"))
    await h.configure(
        document(
            [
                campaign("picky", h.sim, price="20.00", caps={"daily": 100}),
                campaign("taker", h.sim, price="10.00", caps={"daily": 100}),
            ],
            [tier("t", "priority", ["picky", "taker"])],
            tree={"max_processing_ms": 60_000},
            buyer_dedup_days=dedup_days,
        )
    )


async def test_each_post_is_journaled_with_its_claim_in_one_unit(engine: Harness) -> None:
    await _configure(engine, dedup_days=30)
    await engine.post_lead(dict(LEAD_FIELDS, email="first@example.com", phone="(212) 555-0101"))
    await engine.rt.in_flight.drain(10)  # the cap windows' counter rows exist from here on
    with _watching(engine) as (commits, _statements):
        answer = await engine.post_lead()
        await engine.rt.in_flight.drain(10)
    assert answer.json()["status"] == "sold"
    # Store and screen; picky's hold and claim; taker's hold and claim; the record.
    assert len(commits) == 4
    async with engine.rt.sessions() as session:
        kept = (await session.scalars(select(BuyerPurchase.buyer).distinct())).all()
    # picky did not buy either lead: its claims were given back with the records
    assert kept == ["taker"]


async def test_no_claim_is_given_back_when_no_buyer_has_a_dedup_window(engine: Harness) -> None:
    await _configure(engine, dedup_days=0)
    await engine.post_lead()
    await engine.rt.in_flight.drain(10)
    with _watching(engine) as (commits, statements):
        answer = await engine.post_lead()
        await engine.rt.in_flight.drain(10)
    assert answer.json()["status"] == "sold"
    assert len(commits) == 4  # store and screen, two holds, the record
    assert not [s for s in statements if s.lstrip().upper().startswith("DELETE")]
