"""`pingtree ledger` and `pingtree report` against the engine's database."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest
from typer.testing import CliRunner, Result

from pingtree.cli import app
from tests.engine.conftest import Harness, sim_buyer
from tests.factories import campaign, document, tier
from tests.reporting.books import keep_books


async def test_books_and_reports_from_a_shell(
    engine: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = engine
    h.buyers(sim_buyer("apex"))
    await h.configure(document([campaign("apex", h.sim)], [tier("t", "priority", ["apex"])]))
    assert (await h.post_lead()).json()["status"] == "sold"
    await keep_books(h.rt)
    monkeypatch.setenv("PINGTREE_DATABASE_URL", h.rt.settings.database)
    runner = CliRunner()

    def pingtree(*args: str) -> Result:
        return runner.invoke(app, list(args))

    credited = await asyncio.to_thread(pingtree, "ledger", "credit", "apex", "250.00")
    assert credited.exit_code == 0, credited.output
    paid = await asyncio.to_thread(pingtree, "ledger", "pay", "pub", "5.00", "--memo", "ACH")
    assert paid.exit_code == 0, paid.output
    twice = [
        await asyncio.to_thread(pingtree, "ledger", "pay", "pub", "1.00", "--reference", "ACH-9")
        for _ in range(2)
    ]
    assert [r.exit_code for r in twice] == [0, 0], [r.output for r in twice]
    assert twice[1].output.startswith("booked before with reference 'ACH-9'")
    other = await asyncio.to_thread(
        pingtree, "ledger", "pay", "pub", "2.00", "--reference", "ACH-9"
    )
    assert other.exit_code == 1 and "reference 'ACH-9' was booked as payment 1.00" in other.output
    spaced = await asyncio.to_thread(
        pingtree, "ledger", "pay", "pub", "2.00", "--reference", "ACH 9"
    )
    assert spaced.exit_code == 1 and "--reference" in spaced.output
    wrong = await asyncio.to_thread(pingtree, "ledger", "credit", "apexx", "1.00")
    assert wrong.exit_code == 1 and "no account 'buyer:apexx'" in wrong.output
    listed = await asyncio.to_thread(pingtree, "ledger", "balances")
    lines = dict(line.split() for line in listed.output.splitlines())
    assert lines["buyer:apex"] == "240.00" and lines["publisher:pub"] == "-1.00"  # paid once

    day = h.rt.clock.now().date().isoformat()
    got = await asyncio.to_thread(
        pingtree, "report", "campaigns", "--start", day, "--end", day, "--by", "total"
    )
    assert got.exit_code == 0, got.output
    (row,) = list(csv.DictReader(io.StringIO(got.output)))
    assert (row["campaign"], row["sold"], row["revenue"]) == ("apex", "1", "10.00")
    empty = await asyncio.to_thread(
        pingtree, "report", "publishers", "--start", "2020-01-01", "--end", "2020-01-01"
    )
    assert empty.output.splitlines()[0].startswith("period,period_start,period_end,publisher,")
    as_json = await asyncio.to_thread(
        pingtree, "report", "publishers", "--start", day, "--end", day, "--json"
    )
    assert json.loads(as_json.output)["rows"][0]["sold"] == 1
