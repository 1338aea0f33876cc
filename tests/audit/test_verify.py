"""`verify` finds the first broken link when stored events are altered, deleted, reordered
or cut off, on SQLite and PostgreSQL; the database itself refuses casual edits."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.util import await_only

from pingtree import audit
from pingtree.audit.anchors import anchor
from pingtree.audit.verify import verify
from tests.audit.conftest import (
    T0,
    append_in_transactions,
    engine_for,
    event_id_at,
    events,
    unguarded,
)


async def _sealed_trail(url: str, count: int = 30) -> None:
    async with engine_for(url) as engine:
        found = events(count)
        await append_in_transactions(engine, [found[i : i + 3] for i in range(0, count, 3)])
        assert await audit.seal(engine, now=T0, batch=7) == count  # several seal batches


async def test_an_untouched_chain_verifies(database_url: str) -> None:
    await _sealed_trail(database_url)
    async with engine_for(database_url) as engine:
        verdict = await verify(engine)
        async with engine.connect() as conn:
            top = await audit.head(conn)
    assert verdict.intact, verdict.lines()
    assert verdict.links == 30
    assert (top.seq, top.hash) == (verdict.end.seq, verdict.end.hash)
    assert verdict.lines() == [f"audit chain intact: 30 link(s), head 30 {top.hash}"]


async def test_an_altered_event_breaks_its_own_link(database_url: str) -> None:
    await _sealed_trail(database_url)
    async with engine_for(database_url) as engine:
        target = await event_id_at(engine, 12)
        async with unguarded(engine) as conn:
            await conn.execute(
                text("UPDATE audit_events SET details = :d WHERE id = :id"),
                {"d": '{"n":11,"price":"0.01"}', "id": target},
            )
        verdict = await verify(engine)
    assert not verdict.intact
    assert verdict.broken is not None
    assert (verdict.broken.seq, verdict.broken.event_id) == (12, target)
    assert verdict.links == 11
    assert verdict.lines()[0].startswith(f"audit chain BROKEN at link 12 (event {target}): ")


@pytest.mark.parametrize("column", ["actor", "occurred_at", "kind", "lead_id", "subject"])
async def test_every_column_is_in_the_link(database_url: str, column: str) -> None:
    await _sealed_trail(database_url, 9)
    value = {"occurred_at": T0.replace(year=2025)}.get(column, "changed")
    async with engine_for(database_url) as engine:
        target = await event_id_at(engine, 4)
        async with unguarded(engine) as conn:
            table = audit.repository.events_table
            await conn.execute(table.update().where(table.c.id == target).values({column: value}))
        verdict = await verify(engine)
    assert verdict.broken is not None and verdict.broken.seq == 4


async def test_a_deleted_event_is_a_missing_link(database_url: str) -> None:
    await _sealed_trail(database_url)
    async with engine_for(database_url) as engine:
        target = await event_id_at(engine, 17)
        async with unguarded(engine) as conn:
            await conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": target})
        verdict = await verify(engine)
    assert verdict.broken is not None
    assert verdict.broken.seq == 17
    assert "link 17 is missing" in verdict.broken.problem
    assert verdict.links == 16


async def test_reordered_events_break_at_the_first_moved(database_url: str) -> None:
    await _sealed_trail(database_url)
    async with engine_for(database_url) as engine:
        first, second = await event_id_at(engine, 8), await event_id_at(engine, 21)
        async with unguarded(engine) as conn:
            # Swap the two events' places (seq is unique: through a free value).
            swap = "UPDATE audit_events SET seq = :seq WHERE id = :id"
            await conn.execute(text(swap), {"seq": -1, "id": first})
            await conn.execute(text(swap), {"seq": 8, "id": second})
            await conn.execute(text(swap), {"seq": 21, "id": first})
        verdict = await verify(engine)
    assert verdict.broken is not None
    assert (verdict.broken.seq, verdict.broken.event_id) == (8, second)


async def test_swapping_contents_between_rows_is_caught(database_url: str) -> None:
    await _sealed_trail(database_url)
    async with engine_for(database_url) as engine:
        a, b = await event_id_at(engine, 5), await event_id_at(engine, 6)
        async with unguarded(engine) as conn:
            rows = {
                row.id: row.details
                for row in await conn.execute(
                    text("SELECT id, details FROM audit_events WHERE id IN (:a, :b)"),
                    {"a": a, "b": b},
                )
            }
            update = "UPDATE audit_events SET details = :d WHERE id = :id"
            await conn.execute(text(update), {"d": rows[b], "id": a})
            await conn.execute(text(update), {"d": rows[a], "id": b})
        verdict = await verify(engine)
    assert verdict.broken is not None and verdict.broken.seq == 5


async def test_cutting_off_the_newest_links_is_caught_by_the_head(database_url: str) -> None:
    await _sealed_trail(database_url)
    async with engine_for(database_url) as engine:
        async with unguarded(engine) as conn:
            await conn.execute(text("DELETE FROM audit_events WHERE seq > 25"))
        verdict = await verify(engine)
    assert verdict.broken is not None
    assert verdict.broken.seq == 26
    assert "the newest links were removed" in verdict.broken.problem


async def test_an_anchor_catches_a_rewritten_chain_and_its_head(database_url: str) -> None:
    """Cut off and head rewritten to match: only an anchor kept elsewhere can tell."""
    await _sealed_trail(database_url)
    async with engine_for(database_url) as engine:
        async with engine.connect() as conn:
            top = await audit.head(conn)
        kept = anchor(top.seq, top.hash, T0)
        assert (await verify(engine, anchors=[kept])).intact
        async with unguarded(engine) as conn:
            await conn.execute(text("DELETE FROM audit_events WHERE seq > 25"))
            last = await conn.scalar(text("SELECT hash FROM audit_events WHERE seq = 25"))
            await conn.execute(
                text("UPDATE audit_chain SET seq = 25, hash = :h WHERE id = 1"), {"h": last}
            )
        assert (await verify(engine)).intact  # the chain alone cannot tell
        verdict = await verify(engine, anchors=[kept])
    assert verdict.broken is not None
    assert verdict.broken.seq == 26
    assert "names link 30" in verdict.broken.problem


async def test_the_database_refuses_to_change_or_delete_a_sealed_event(database_url: str) -> None:
    await _sealed_trail(database_url, 6)
    async with engine_for(database_url) as engine:
        for statement in (
            "UPDATE audit_events SET details = '{}' WHERE seq = 2",
            "UPDATE audit_events SET seq = 99 WHERE seq = 3",
            "DELETE FROM audit_events WHERE seq = 4",
        ):
            with pytest.raises(DBAPIError, match="cannot be changed or deleted"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
        assert (await verify(engine)).intact


async def test_an_unsealed_event_may_be_sealed_but_not_edited(database_url: str) -> None:
    async with engine_for(database_url) as engine:
        await append_in_transactions(engine, [events(2)])
        with pytest.raises(DBAPIError, match="cannot be changed or deleted"):
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE audit_events SET actor = 'someone else'"))
        verdict = await verify(engine)
        assert verdict.unsealed == 2
        assert verdict.lines()[-1] == "2 event(s) not sealed yet (`pingtree audit seal`)"
        assert await audit.seal(engine, now=T0) == 2
        assert (await verify(engine)).links == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL stores an
async def test_a_time_written_in_another_form_is_read_as_the_same_time(  # instant, not text
    database_url: str,
) -> None:
    """verify has the database write each time as text; a time stored in another form (the
    same moment) is read as a datetime, as before, and still holds."""
    await _sealed_trail(database_url, 9)
    async with engine_for(database_url) as engine:
        target = await event_id_at(engine, 4)
        async with unguarded(engine) as conn:
            await conn.execute(
                text(
                    "UPDATE audit_events SET occurred_at = "
                    "replace(rtrim(occurred_at, '0'), ' ', 'T') WHERE id = :id"
                ),
                {"id": target},
            )
            stored = await conn.scalar(
                text("SELECT occurred_at FROM audit_events WHERE id = :id"), {"id": target}
            )
        verdict = await verify(engine)
    assert stored == "2026-11-25T12:00:00.003"
    assert verdict.intact, verdict.lines()
    assert verdict.links == 9


async def test_a_time_that_cannot_be_read_breaks_its_link(database_url: str) -> None:
    await _sealed_trail(database_url, 9)
    async with engine_for(database_url) as engine:
        target = await event_id_at(engine, 4)
        bad = "'infinity'" if engine.dialect.name == "postgresql" else "'not a time'"
        async with unguarded(engine) as conn:
            await conn.execute(
                text(f"UPDATE audit_events SET occurred_at = {bad} WHERE id = :id"), {"id": target}
            )
        verdict = await verify(engine)
    assert verdict.broken is not None
    assert (verdict.broken.seq, verdict.broken.event_id) == (4, target)
    assert "time cannot be read" in verdict.broken.problem
    assert verdict.links == 3


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: no year < 1
async def test_a_time_moved_before_the_common_era_is_caught(database_url: str) -> None:
    """PostgreSQL's to_char writes 2026 BC as 2026: verify must not take it for 2026 AD."""
    await _sealed_trail(database_url, 9)
    async with engine_for(database_url) as engine:
        target = await event_id_at(engine, 4)
        async with unguarded(engine) as conn:
            await conn.execute(
                text(
                    "UPDATE audit_events SET occurred_at = (to_char(occurred_at AT TIME ZONE "
                    "'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || ' BC')::timestamp AT TIME ZONE 'UTC' "
                    "WHERE id = :id"
                ),
                {"id": target},
            )
            year = await conn.scalar(
                text("SELECT to_char(occurred_at, 'YYYY BC') FROM audit_events WHERE id = :id"),
                {"id": target},
            )
        verdict = await verify(engine)
    assert year == "2026 BC"
    assert verdict.broken is not None
    assert (verdict.broken.seq, verdict.broken.event_id) == (4, target)


async def test_links_sealed_while_verify_reads_are_not_taken_for_tampering(
    database_url: str,
) -> None:
    """The running server seals while an operator verifies: verify reads the head and every
    page as of one moment, so links sealed meanwhile are not 'added outside the sealer'."""
    await _sealed_trail(database_url, 9)
    async with engine_for(database_url) as engine, engine_for(database_url) as server:
        await append_in_transactions(server, [events(4, start=9)])
        sealed: list[int] = []

        def seal_before_the_first_page(
            _conn: object, _cursor: object, statement: str, *_: object
        ) -> None:
            if "ORDER BY audit_events.seq" in statement and not sealed:
                sealed.append(await_only(audit.seal(server, now=T0)))

        event.listen(engine.sync_engine, "before_cursor_execute", seal_before_the_first_page)
        verdict = await verify(engine)
        after = await verify(engine)
    assert sealed == [4]
    assert verdict.intact, verdict.lines()
    assert (verdict.links, verdict.unsealed) == (9, 4)
    assert after.intact and after.links == 13
