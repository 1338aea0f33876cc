"""A delivery process (delivery_process): requests go out from a child process, each answer
comes back to its own request, the deadline is kept here whatever the child does, and a
child that dies costs the exchanges in flight (errors: the lead cascades) and no more.

Real parts: the buyer simulator on 127.0.0.1 and a real child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from pingtree.buyers.model import Outcome, ResponseRule, ResponseRules, Source
from pingtree.delivery import offload
from pingtree.delivery.exchange import Failed
from pingtree.delivery.offload import DeliveryProcess
from pingtree.delivery.requests import OutboundRequest
from pingtree.delivery.responses import Answered, Reader
from pingtree.money import LARGEST
from pingtree.settings import Settings
from pingtree.simulator import RunningSimulator, SimulatorConfig, start_simulator
from tests.engine.conftest import Harness, _harness, sim_buyer
from tests.factories import JSON_PING, campaign, document, tier

LIMIT = 1024 * 1024
BIDS = Reader("b", ResponseRules.model_validate(JSON_PING), LARGEST, bid=True)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    buyers = [sim_buyer(f"b{i}", bid_min=Decimal(i), bid_max=Decimal(i)) for i in range(1, 21)]
    buyers.append(sim_buyer("hanger", hang_rate=1.0))
    running = await start_simulator(SimulatorConfig(port=0, buyers=buyers))
    yield running
    await running.stop()


@pytest.fixture
async def child() -> AsyncIterator[DeliveryProcess]:
    process = DeliveryProcess(allow="127.0.0.1")
    await process.start()
    yield process
    await process.close()


def _ping(sim: RunningSimulator, buyer: str, lead: str) -> OutboundRequest:
    body = json.dumps({"state": "CA", "lead_id": lead}).encode()
    headers = {"Content-Type": "application/json"}
    return OutboundRequest("POST", sim.url(buyer, "ping"), headers, body)


async def test_each_answer_comes_back_to_its_own_request(
    sim: RunningSimulator, child: DeliveryProcess
) -> None:
    asked = [f"b{i % 20 + 1}" for i in range(200)]
    answers = await asyncio.gather(
        *(child(_ping(sim, buyer, f"lead-{n}"), 5.0, LIMIT, BIDS) for n, buyer in enumerate(asked))
    )
    for buyer, answer in zip(asked, answers, strict=True):
        assert isinstance(answer, Answered), answer
        assert answer.status == 200 and answer.location is None and answer.unexpected is None
        assert answer.reading.outcome is Outcome.ACCEPTED
        assert answer.reading.price == Decimal(buyer[1:])  # read by the rules, in the child
        assert Decimal(str(json.loads(answer.text)["price"])) == Decimal(buyer[1:])
        assert answer.reading.reference == json.loads(answer.text)["bid_id"]
    for n in range(1, 21):  # every request reached its buyer once
        assert len(sim.received(f"b{n}")) == 10


async def test_the_answer_limit_and_faults_travel_with_the_answer(
    sim: RunningSimulator, child: DeliveryProcess
) -> None:
    sim.buyer("b1").answer_padding_bytes = 500
    answer = await child(_ping(sim, "b1", "lead"), 5.0, 100, BIDS)
    assert isinstance(answer, Answered)
    assert answer.reading.outcome is Outcome.ERROR
    assert (answer.reading.reason or "").startswith("answer_too_large:"), answer.reading
    refused = OutboundRequest("POST", "http://10.0.0.1/ping", {}, b"{}")  # not allowed
    failed = await child(refused, 5.0, LIMIT, BIDS)
    assert isinstance(failed, Failed) and failed.outcome is Outcome.ERROR, failed
    assert failed.reason.startswith("connection failed:"), failed.reason


async def test_a_stuck_child_cannot_hold_an_exchange_past_its_deadline(
    sim: RunningSimulator, child: DeliveryProcess
) -> None:
    pid = child.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = await child(_ping(sim, "b1", "stuck"), 0.3, LIMIT, BIDS)
        waited = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert answer == Failed(Outcome.TIMEOUT, "no answer within 0.300s")
    assert 0.3 <= waited < 0.3 + 1.0, waited  # generous margin for a loaded machine
    # The child goes on; the late answer to the dropped request is not taken for this one.
    again = await child(_ping(sim, "b2", "after"), 5.0, LIMIT, BIDS)
    assert isinstance(again, Answered)
    assert again.reading.price == 2
    assert child.pid == pid


async def test_a_child_that_dies_fails_what_it_held_and_the_next_request_starts_another(
    sim: RunningSimulator, child: DeliveryProcess
) -> None:
    first = child.pid
    assert first is not None
    hanging = asyncio.ensure_future(child(_ping(sim, "hanger", "lead"), 30.0, LIMIT, BIDS))
    while not sim.received("hanger"):
        await asyncio.sleep(0.01)
    os.kill(first, signal.SIGKILL)
    answer = await asyncio.wait_for(hanging, 10)
    assert answer == Failed(Outcome.ERROR, "the delivery process exited before the answer came")
    again = await child(_ping(sim, "b3", "next"), 30.0, LIMIT, BIDS)
    assert isinstance(again, Answered) and again.reading.price == 3, again
    assert child.pid not in (None, first)


async def test_a_closed_delivery_process_sends_nothing(sim: RunningSimulator) -> None:
    process = DeliveryProcess(allow="127.0.0.1")
    await process.start()
    pid = process.pid
    assert pid is not None
    await process.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone, and reaped
    answer = await process(_ping(sim, "b1", "late"), 1.0, LIMIT, BIDS)
    assert answer == Failed(Outcome.ERROR, "the delivery process is stopped")
    assert sim.received("b1") == []


def test_a_bad_allowlist_is_refused_before_any_child_starts() -> None:
    with pytest.raises(ValueError):
        DeliveryProcess(allow="not an address/99")


@pytest.fixture
async def offloaded(sqlite_url: str) -> AsyncIterator[Harness]:
    async for harness in _harness(sqlite_url, delivery_process=True):
        yield harness


async def test_a_lead_cascades_past_a_post_the_dying_child_held(offloaded: Harness) -> None:
    h = offloaded
    h.buyers(sim_buyer("hanger", hang_rate=1.0), sim_buyer("good"))
    await h.configure(
        document(
            [campaign("hanger", h.sim, timeout_ms=20_000), campaign("good", h.sim)],
            [tier("t", "priority", ["hanger", "good"])],
            tree={"max_processing_ms": 30_000},
        )
    )
    assert h.rt.delivery is not None
    first = h.rt.delivery.pid
    assert first is not None
    lead = asyncio.ensure_future(h.post_lead())
    while not h.sim.received("hanger"):
        await asyncio.sleep(0.01)
    os.kill(first, signal.SIGKILL)
    answer = (await asyncio.wait_for(lead, 20)).json()
    assert answer["status"] == "sold", answer
    story = await h.timeline(answer["lead_id"])
    outcomes = [(a["campaign"], a["outcome"], a["reason"]) for a in story["attempts"]]
    assert outcomes == [
        ("hanger", "error", "the delivery process exited before the answer came"),
        ("good", "accepted", None),
    ]
    assert h.rt.delivery.pid not in (None, first)


async def test_stopping_the_server_ends_its_delivery_process(sqlite_url: str) -> None:
    pid: int | None = None
    async for h in _harness(sqlite_url, delivery_process=True):
        assert h.rt.delivery is not None
        pid = h.rt.delivery.pid
        assert pid is not None
        os.kill(pid, 0)  # running
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_rules_the_child_cannot_take_cost_the_one_attempt(
    sim: RunningSimulator, child: DeliveryProcess
) -> None:
    # Built in code past validation (as tests/engine/test_response_rules.py does in process).
    broken = ResponseRule.model_construct(
        source=Source.XPATH, path="nosuch()", exists=True, outcome=Outcome.ACCEPTED
    )
    rules = ResponseRules.model_construct(
        rules=[broken], otherwise=Outcome.ERROR, capture={}, default_reason="x"
    )
    answer = await child(_ping(sim, "b1", "x"), 5.0, LIMIT, Reader("b", rules, LARGEST, True))
    assert isinstance(answer, Answered)
    assert answer.reading.outcome is Outcome.ERROR
    assert (answer.reading.reason or "").startswith("unreadable_answer:"), answer.reading
    assert len(sim.received("b1")) == 1  # sent, as it is from the server's process
    again = await child(_ping(sim, "b2", "y"), 5.0, LIMIT, BIDS)
    assert isinstance(again, Answered) and again.reading.price == 2


async def test_readers_are_sent_once_and_forgotten_past_the_limit(
    sim: RunningSimulator, child: DeliveryProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offload, "MAX_READERS", 2)
    sent: list[tuple[Any, ...]] = []
    live = await child._live()
    original = live.link.send
    monkeypatch.setattr(live.link, "send", lambda m: (sent.append(m), original(m)))
    readers = [
        Reader(f"c{i}", ResponseRules.model_validate(JSON_PING), LARGEST, True) for i in range(3)
    ]
    for round_ in range(2):
        for n, reader in enumerate(readers):
            answer = await child(_ping(sim, f"b{n + 1}", f"r{round_}"), 5.0, LIMIT, reader)
            assert isinstance(answer, Answered) and answer.reading.price == n + 1, answer
    kinds = [m[0] for m in sent if m[0] != "send"]
    # c0, c1 sent; c2 is the third: both ends forget, then c2; round two: c0 (forgotten) ...
    assert kinds == ["reader", "reader", "forget", "reader", "reader", "forget", "reader", "reader"]


def test_a_delivery_process_is_sqlites_default_and_not_postgresqls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PINGTREE_DELIVERY_PROCESS")
    assert Settings(database_url="sqlite+aiosqlite:///x.db").delivers_from_a_process
    assert Settings(data_dir="somewhere").delivers_from_a_process  # SQLite in data_dir
    postgres = "postgresql+psycopg://pingtree@db/pingtree"
    assert not Settings(database_url=postgres).delivers_from_a_process
    assert Settings(database_url=postgres, delivery_process=True).delivers_from_a_process
    monkeypatch.setenv("PINGTREE_DELIVERY_PROCESS", "false")
    assert not Settings(database_url="sqlite+aiosqlite:///x.db").delivers_from_a_process


async def test_an_app_on_sqlite_sells_through_its_delivery_process_by_default(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PINGTREE_DELIVERY_PROCESS")
    async for h in _harness(sqlite_url):
        assert h.rt.delivery is not None and h.rt.delivery.pid is not None
        h.buyers(sim_buyer("bidder"), sim_buyer("buyer"))
        spec = campaign("bidder", h.sim, bid=True)
        await h.configure(
            document(
                [spec, campaign("buyer", h.sim)],
                [tier("auction", "ping_post", ["bidder"]), tier("t", "priority", ["buyer"])],
            )
        )
        answer = (await h.post_lead()).json()
        assert answer["status"] == "sold", answer
        story = await h.timeline(answer["lead_id"])
        kinds = [(a["campaign"], a["kind"], a["outcome"]) for a in story["attempts"]]
        assert kinds == [("bidder", "ping", "accepted"), ("bidder", "post", "accepted")]
        assert Decimal(str(story["attempts"][0]["price"])) >= 10


async def test_a_signal_to_the_whole_service_leaves_the_child_to_its_server(
    sim: RunningSimulator, child: DeliveryProcess
) -> None:
    """Ctrl-C, or a service manager's SIGTERM to every process, reaches the child too: it
    keeps serving the server, which is still finishing its leads, and leaves with it."""
    pid = child.pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGINT)
    await asyncio.sleep(0.2)
    answer = await child(_ping(sim, "b4", "after-signals"), 5.0, LIMIT, BIDS)
    assert isinstance(answer, Answered) and answer.reading.price == 4, answer
    assert child.pid == pid


async def test_rules_that_cannot_be_handed_over_cost_the_one_attempt(
    sim: RunningSimulator, child: DeliveryProcess
) -> None:
    rule = ResponseRule.model_validate(JSON_PING["rules"][0])
    odd = ResponseRules.model_construct(
        rules=[rule], otherwise=Outcome.ERROR, capture={}, default_reason=object()
    )
    answer = await child(_ping(sim, "b1", "odd"), 5.0, LIMIT, Reader("b", odd, LARGEST, True))
    assert isinstance(answer, Failed) and answer.outcome is Outcome.ERROR, answer
    assert answer.reason.endswith("handing the request to the delivery process"), answer
    assert sim.received("b1") == []  # not sent
    again = await child(_ping(sim, "b2", "next"), 5.0, LIMIT, BIDS)
    assert isinstance(again, Answered) and again.reading.price == 2


async def test_a_new_configuration_reads_by_its_new_rules_in_the_child(offloaded: Harness) -> None:
    """The child keeps each endpoint's rules: a campaign whose rules change must be read by
    the new ones from the next lead on, never by what the child was sent before."""
    h = offloaded
    h.buyers(sim_buyer("acme"))

    def config(accept_word: str) -> Any:
        spec = campaign("acme", h.sim)
        post = spec["delivery"]["post"]
        post["response"] = {
            "rules": [
                {"source": "json", "path": "$.status", "equals": accept_word, "outcome": "accepted"}
            ],
            "otherwise": "rejected",
        }
        return document([spec], [tier("t", "priority", ["acme"])])

    await h.configure(config("accepted"))  # what the simulator answers
    assert (await h.post_lead()).json()["status"] == "sold"
    await h.configure(config("bought"))  # the same campaign, now reading another word
    answer = (await h.post_lead()).json()
    assert answer["status"] == "unsold", answer
    story = await h.timeline(answer["lead_id"])
    assert [a["outcome"] for a in story["attempts"]] == ["rejected"]
    await h.configure(config("accepted"))  # and back
    assert (await h.post_lead()).json()["status"] == "sold"


async def test_a_stuck_child_is_killed_and_the_next_request_starts_another(
    sim: RunningSimulator, child: DeliveryProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child that stops answering altogether (a pathological answer spinning its loop, a
    stopped process) would turn every later attempt into a timeout: it is replaced."""
    monkeypatch.setattr(offload, "STUCK_S", 0.3)
    stuck = child.pid
    assert stuck is not None
    os.kill(stuck, signal.SIGSTOP)
    try:
        outcomes = []
        for n in range(3):  # 0.2 s each: the question asked at the first is 0.4 s old at the last
            outcomes.append(await child(_ping(sim, "b1", f"s{n}"), 0.2, LIMIT, BIDS))
        assert all(o == Failed(Outcome.TIMEOUT, "no answer within 0.200s") for o in outcomes)
        again = await child(_ping(sim, "b5", "fresh"), 30.0, LIMIT, BIDS)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stuck, signal.SIGCONT)
    assert isinstance(again, Answered) and again.reading.price == 5, again
    assert child.pid not in (None, stuck)


async def test_a_child_waiting_on_slow_buyers_is_not_taken_for_stuck(
    sim: RunningSimulator, child: DeliveryProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offload, "STUCK_S", 1.0)  # a loaded machine's child answers in time
    pid = child.pid
    for n in range(8):  # 1.6 s of timeouts: each question answered, the next one asked
        answer = await child(_ping(sim, "hanger", f"h{n}"), 0.2, LIMIT, BIDS)
        assert answer == Failed(Outcome.TIMEOUT, "no answer within 0.200s")
    answer = await child(_ping(sim, "b6", "after"), 30.0, LIMIT, BIDS)
    assert isinstance(answer, Answered) and answer.reading.price == 6
    assert child.pid == pid  # it answered the liveness checks: kept
