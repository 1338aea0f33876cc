"""The link hash is fixed: links sealed before verify got faster hash as they did, and the
time each database writes as text for verify is the time the sealer hashed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from pingtree import audit
from pingtree.audit.chain import GENESIS, hash_link, link_hash, moment
from pingtree.audit.repository import events_table
from pingtree.audit.verify import moment_text, verify
from tests.audit.conftest import T0, append_in_transactions, engine_for

# Computed by link_hash before verify's rewrite (commit 1e6d9af): a change of the record's
# form, the time's text or the encoding would leave every sealed chain broken.
KNOWN = [
    (
        {
            "prev": GENESIS,
            "seq": 1,
            "event_id": 1,
            "occurred_at": T0,
            "kind": "lead_received",
            "lead_id": "lead-0",
            "actor": "publisher:pub",
            "subject": "campaigns/c0",
            "details": '{"n":0}',
        },
        "141bac9c9eb8c25008fd9690772cc578fb4ca6d252069edd883f8efbf67f7c99",
    ),
    (
        {
            "prev": "a" * 64,
            "seq": 1234567,
            "event_id": 98765432109,
            "occurred_at": datetime(2026, 3, 8, 2, 30, 0, 5, tzinfo=timezone(timedelta(hours=-5))),
            "kind": "config_changed",
            "lead_id": None,
            "actor": "operator:zoë ☃",
            "subject": None,
            "details": '{"note":"na\\u00efve"}',
        },
        "755970f9d79f60b0fe0570e937a86af27ee9dff5776730dbc119760ab7cd1d07",
    ),
]

# Times whose text is easy to get wrong: no microseconds, all of them, the first and last
# years Python holds, another zone, a DST change.
TIMES = [
    T0,
    T0.replace(microsecond=999_999),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 3, 8, 2, 30, 0, 5, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 11, 1, 1, 30, 0, 1, tzinfo=timezone(timedelta(hours=13, minutes=45))),
]


@pytest.mark.parametrize(("columns", "expected"), KNOWN)
def test_link_hash_is_what_it_was(columns: dict[str, object], expected: str) -> None:
    assert link_hash(**columns) == expected  # type: ignore[arg-type]


def test_hash_link_is_link_hash_of_the_moments_text() -> None:
    for columns, expected in KNOWN:
        rest = dict(columns)
        at = moment(rest.pop("occurred_at"))  # type: ignore[arg-type]
        assert hash_link(at=at, **rest) == expected  # type: ignore[arg-type]


async def test_the_database_writes_each_time_as_the_sealer_hashed_it(database_url: str) -> None:
    found = [
        audit.Event(audit.EventKind.CONFIG_CHANGED, at, actor="operator:zoë ☃", details={})
        for at in TIMES
    ]
    async with engine_for(database_url) as engine:
        await append_in_transactions(engine, [found])
        assert await audit.seal(engine, now=T0) == len(TIMES)
        async with engine.connect() as conn:
            written = await conn.scalars(
                select(moment_text(engine.dialect.name))
                .select_from(events_table)
                .order_by(events_table.c.seq)
            )
            texts = list(written)
        verdict = await verify(engine)
    # Never NULL: the database wrote each, none was read back as a datetime.
    assert texts == [moment(at) for at in TIMES]
    assert verdict.intact and verdict.links == len(TIMES), verdict.lines()
