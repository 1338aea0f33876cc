"""`pingtree audit seal | verify | anchor` on each database: the output before and after a
stored event is altered, and an anchors file that catches a cut-off chain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from typer.testing import Result

from tests.audit.conftest import append_in_transactions, engine_for, events, unguarded

Pingtree = Callable[..., Result]


def _append(url: str, count: int) -> None:
    async def run() -> None:
        async with engine_for(url) as engine:
            found = events(count)
            await append_in_transactions(engine, [found[i : i + 4] for i in range(0, count, 4)])

    asyncio.run(run())


def _tamper(url: str, statement: str) -> None:
    async def run() -> None:
        async with engine_for(url) as engine, unguarded(engine) as conn:
            await conn.execute(text(statement))

    asyncio.run(run())


def test_verify_before_and_after_an_event_is_altered(pingtree: Pingtree, database_url: str) -> None:
    _append(database_url, 12)
    sealed = pingtree("audit", "seal")
    assert sealed.exit_code == 0, sealed.output
    assert sealed.stdout.startswith("12 event(s) sealed; head 12 ")
    before = pingtree("audit", "verify")
    assert before.exit_code == 0, before.output
    assert before.stdout.startswith("audit chain intact: 12 link(s), head 12 ")

    _tamper(database_url, "UPDATE audit_events SET actor = 'operator:mallory' WHERE seq = 7")
    after = pingtree("audit", "verify")
    assert after.exit_code == 1
    first, second = after.stderr.splitlines()[:2]
    assert first.startswith("audit chain BROKEN at link 7 (event ")
    assert first.endswith("it was altered, or moved here from another place in the chain")
    assert second == "6 link(s) before it hold"


def test_an_anchors_file_catches_links_cut_off_with_the_head(
    pingtree: Pingtree, database_url: str, tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.txt"
    _append(database_url, 8)
    first = pingtree("audit", "anchor", "--file", str(anchors))
    assert first.exit_code == 0, first.output
    assert first.stdout.split()[0] == "8"
    _append(database_url, 4)
    second = pingtree("audit", "anchor", "--file", str(anchors))
    assert second.stdout.split()[0] == "12"
    assert [line.split()[0] for line in anchors.read_text().splitlines()] == ["8", "12"]
    assert pingtree("audit", "verify", "--anchors", str(anchors)).exit_code == 0

    # The newest links deleted and the head set back to match: the chain alone holds.
    _tamper(database_url, "DELETE FROM audit_events WHERE seq > 10")
    _tamper(
        database_url,
        "UPDATE audit_chain SET seq = 10, "
        "hash = (SELECT hash FROM audit_events WHERE seq = 10) WHERE id = 1",
    )
    assert pingtree("audit", "verify").exit_code == 0
    caught = pingtree("audit", "verify", "--anchors", str(anchors))
    assert caught.exit_code == 1
    assert caught.stderr.splitlines()[0].startswith("audit chain BROKEN at link 11: an anchor")


def test_a_bad_anchors_file_is_named_with_its_line(pingtree: Pingtree, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.txt"
    anchors.write_text("# kept by ops\n3 " + "a" * 64 + "\nnot an anchor\n")
    refused = pingtree("audit", "verify", "--anchors", str(anchors))
    assert refused.exit_code == 1
    assert refused.stderr.strip() == f"{anchors}:3: not an anchor (<seq> <sha256 hex> [time])"
