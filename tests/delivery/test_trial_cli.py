"""`pingtree buyers try` and `pingtree rules check` against the simulator (issue 10, point 2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from pingtree.cli import app
from pingtree.delivery.trial import example_lead
from pingtree.simulator import RunningSimulator, SimBuyer, SimulatorConfig, start_simulator
from pingtree.simulator.behaviour import ScriptedAnswer
from pingtree.verticals.model import Vertical
from tests.factories import VERTICAL, campaign, document, tier

TOKEN = "sekret-bearer-token-4711"
HEADER_SECRET = "hdr-secret-0815"


def buyer(name: str, **behaviour: Any) -> SimBuyer:
    return SimBuyer(name=name, bid_min=Decimal("12.5"), bid_max=Decimal("12.5"), **behaviour)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(
        SimulatorConfig(port=0, buyers=[buyer("acme"), buyer("sandbox"), buyer("html")])
    )
    yield running
    await running.stop()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PINGTREE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PINGTREE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    monkeypatch.setenv("PINGTREE_BUYER_URL_ALLOW", "127.0.0.1")  # the simulator, any port
    return tmp_path


async def pingtree(*args: str) -> Result:
    # The commands run their own event loop: in a thread, beside the simulator's.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


def write_config(tmp_path: Path, sim: RunningSimulator, *campaigns: dict[str, Any]) -> str:
    names = [c["name"] for c in campaigns]
    path = tmp_path / "pingtree.yaml"
    # Written as an operator writes it, credentials in clear (an export would mask them).
    data = document(list(campaigns), [tier("t", "ping_post", names)])
    path.write_text(yaml.safe_dump(data.model_dump(mode="json", exclude_none=True)))
    return str(path)


def secret_campaign(sim: RunningSimulator, name: str = "acme", **extra: Any) -> dict[str, Any]:
    spec = campaign(name, sim, bid=True, **extra)
    spec["delivery"]["auth"] = {"type": "bearer", "token": TOKEN}
    spec["delivery"]["post"]["headers"] = {"X-Api-Token": HEADER_SECRET}
    return spec


async def test_buyers_try_sends_the_example_lead_and_explains_each_answer(
    sim: RunningSimulator, isolated: Path
) -> None:
    config = write_config(isolated, sim, secret_campaign(sim))
    result = await pingtree("buyers", "try", "acme", "--config", config)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "test lead: the example lead of vertical auto" in out
    assert f"request sent: POST {sim.url('acme', 'ping')}" in out
    assert f"request sent: POST {sim.url('acme', 'post')}" in out
    assert "X-Pingtree-Test: 1" in out
    assert TOKEN not in out and HEADER_SECRET not in out  # secrets masked
    assert "Authorization: ***" in out and "X-Api-Token: ***" in out
    assert '"status": "bid"' in out and '"status": "accepted"' in out  # the raw answers
    assert "1. json $.status equals 'bid' -> accepted: found [\"bid\"], MATCHED" in out
    assert "2. json $.status equals 'no_bid' -> rejected: not reached" in out
    assert "outcome: accepted (rule 1 matched)" in out
    assert "  price: 12.50" in out
    # The buyer got a test ping (no PII) and a test post of the whole example lead.
    ping, post = sim.received("acme")
    assert (ping.kind, post.kind) == ("ping", "post")
    assert ping.headers.get("X-Pingtree-Test") == "1" and "email" not in ping.body
    expected = example_lead(Vertical.model_validate(VERTICAL))
    assert {k: post.body[k] for k in expected} == expected


async def test_buyers_try_uses_the_test_url_and_a_lead_file(
    sim: RunningSimulator, isolated: Path
) -> None:
    spec = campaign("acme", sim)
    spec["delivery"]["post"]["test_url"] = sim.url("sandbox", "post")
    config = write_config(isolated, sim, spec)
    lead = isolated / "lead.json"
    lead.write_text(json.dumps({"first_name": "Grace", "zip": "90012", "state": "CA"}))
    result = await pingtree("buyers", "try", "acme", "--config", config, "--lead", str(lead))
    assert result.exit_code == 0, result.output
    assert f"request sent: POST {sim.url('sandbox', 'post')}" in result.stdout
    assert sim.received("acme") == []
    (post,) = sim.received("sandbox")
    assert post.body["first_name"] == "Grace" and post.body["test"] is True


async def test_buyers_try_shows_captures_from_an_html_answer(
    sim: RunningSimulator, isolated: Path
) -> None:
    sim.set_buyer(
        buyer(
            "html",
            scripted=ScriptedAnswer(
                headers=[("Content-Type", "text/html"), ("Set-Cookie", "lead_id=B-77; Path=/")],
                body=b"<html><h1>Thank you!</h1><span id='ref'>LX-1</span></html>",
            ),
        )
    )
    spec = campaign("html", sim)
    spec["delivery"]["post"]["response"] = {
        "rules": [{"source": "css", "path": "h1", "contains": "thank", "outcome": "accepted"}],
        "reference": {"source": "css", "path": "#ref"},
        "capture": {"buyer_lead_id": {"source": "cookie", "path": "lead_id"}},
    }
    result = await pingtree("buyers", "try", "html", "--config", write_config(isolated, sim, spec))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Set-Cookie: lead_id=B-77; Path=/" in out
    assert "1. css h1 contains 'thank' -> accepted: found [\"Thank you!\"], MATCHED" in out
    assert "  reference: LX-1" in out and "  captured buyer_lead_id: B-77" in out


async def test_buyers_try_reports_a_buyer_that_is_down(
    sim: RunningSimulator, isolated: Path
) -> None:
    spec = campaign("acme", sim)
    spec["delivery"]["post"]["url"] = "http://127.0.0.1:9/nothing-listens"
    result = await pingtree("buyers", "try", "acme", "--config", write_config(isolated, sim, spec))
    assert result.exit_code == 0, result.output
    assert "outcome: error (connection failed:" in result.stdout


async def test_rules_check_reads_a_saved_answer_from_the_stored_configuration(
    sim: RunningSimulator, isolated: Path
) -> None:
    config = write_config(isolated, sim, secret_campaign(sim))
    applied = await pingtree("apply", config)
    assert applied.exit_code == 0, applied.output
    saved = isolated / "answer.json"
    saved.write_text('{"status": "rejected", "reason": [" bad zip ", "too old", "bad zip"]}')
    result = await pingtree(
        "rules", "check", "acme", "--answer", str(saved), "--status", "422",
        "--header", "X-Trace: 1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "request sent" not in out  # nothing is sent
    assert "answer: HTTP 422" in out and "  X-Trace: 1" in out
    assert "3. json $.status equals 'rejected' -> rejected: found [\"rejected\"], MATCHED" in out
    assert "outcome: rejected (rule 3 matched)" in out
    assert "  reason: bad zip, too old" in out
    assert sim.received("acme") == []
    as_ping = await pingtree("rules", "check", "acme", "--answer", str(saved), "--kind", "ping")
    assert "outcome: error (no rule matched: otherwise error)" in as_ping.stdout


async def test_rules_check_refusals_name_the_problem(sim: RunningSimulator, isolated: Path) -> None:
    config = write_config(isolated, sim, campaign("acme", sim))
    saved = isolated / "answer.txt"
    saved.write_text("ok")
    unknown = await pingtree("rules", "check", "nope", "--answer", str(saved), "--config", config)
    assert unknown.exit_code == 1
    assert "no campaign 'nope' in" in unknown.stderr and "(campaigns: acme)" in unknown.stderr
    header = await pingtree(
        "rules", "check", "acme", "--answer", str(saved), "--config", config, "--header", "nocolon"
    )
    assert header.exit_code == 1 and "write it as 'Name: value'" in header.stderr
    no_ping = await pingtree(
        "rules", "check", "acme", "--answer", str(saved), "--config", config, "--kind", "ping"
    )
    assert no_ping.exit_code == 1 and "has no ping endpoint" in no_ping.stderr


async def test_an_answer_naming_a_key_twice_is_shown_as_unreadable_not_a_crash(
    sim: RunningSimulator, isolated: Path
) -> None:
    # A buyer's answer `{"status": "rejected", "status": "accepted"}` is an error attempt
    # when routing; trying the campaign (console, `buyers try`, `rules check`) says so too.
    twice = b'{"status": "no_bid", "status": "accepted"}'
    sim.set_buyer(
        buyer(
            "acme",
            scripted=ScriptedAnswer(headers=[("Content-Type", "application/json")], body=twice),
        )
    )
    config = write_config(isolated, sim, campaign("acme", sim))
    tried = await pingtree("buyers", "try", "acme", "--config", config)
    assert tried.exit_code == 0, tried.output
    assert "names 'status' twice in one object" in tried.stdout
    assert "outcome: accepted" not in tried.stdout
    saved = isolated / "answer.json"
    saved.write_bytes(twice)
    checked = await pingtree("rules", "check", "acme", "--answer", str(saved), "--config", config)
    assert checked.exit_code == 0, checked.output
    assert "names 'status' twice in one object" in checked.stdout
