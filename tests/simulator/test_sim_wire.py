"""Hostile and clumsy buyers: answers in pieces, chunked, padded, cut short, redirected,
refused with a 4xx, absurd prices and raw scripted bytes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from pingtree.simulator import SimulatorConfigError, load_config
from pingtree.simulator.behaviour import ScriptedAnswer
from pingtree.simulator.wire import raw, split

from .conftest import StartSim, buyer

LEAD = {"email": "a@b.example", "zip": "10001"}


def test_split_keeps_every_byte_in_order() -> None:
    assert split(b"abcdefg", 3) == [b"abc", b"def", b"g"]
    assert split(b"abc", 1) == [b"abc"]
    assert b"".join(split(b"x" * 1001, 7)) == b"x" * 1001


async def test_an_answer_in_pieces_arrives_in_pieces(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer(answer_pieces=2, piece_delay_ms=500))
    async with http.post(sim.url("acme", "post"), json=LEAD) as r:
        assert r.headers["Content-Length"]
        first = await r.content.readany()
        rest = await r.read()
    whole = first + rest
    assert rest, "the second piece came later"
    assert b'"status": "accepted"' in whole


async def test_chunked_padded_and_literal_prices(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(
        buyer(
            chunked=True,
            answer_pieces=3,
            answer_padding_bytes=5000,
            ping_price="1e30",
            post_price="5.00",
        )
    )
    async with http.post(sim.url("acme", "ping"), json=LEAD) as r:
        assert r.headers["Transfer-Encoding"] == "chunked"
        bid = await r.json()
    assert bid["price"] == "1e30" and len(bid["padding"]) == 5000
    async with http.post(sim.url("acme", "post"), json=LEAD) as r:
        assert (await r.json())["price"] == "5.00"


async def test_a_short_answer_breaks_off(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(buyer(short_by_bytes=4))
    async with http.post(sim.url("acme", "post"), json=LEAD) as r:
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()


async def test_redirect_and_4xx_status(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(
        buyer(redirect_status=308, redirect_location="http://127.0.0.1:1/x"),
        buyer("refuser", answer_status=409),
    )
    async with http.post(sim.url("acme", "post"), json=LEAD, allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (308, "http://127.0.0.1:1/x")
    async with http.post(sim.url("refuser", "post"), json=LEAD) as r:
        assert r.status == 409 and (await r.json())["status"] == "accepted"
    assert [q.outcome for q in sim.received("acme")] == ["redirect"]
    assert sim.received("acme")[0].http_status == 308


async def test_a_scripted_answer_is_written_byte_for_byte(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    script = ScriptedAnswer(status=218, reason="Odd", headers=[("X-A", "1")], body=b"\xff\x00ok")
    assert raw(script).startswith(b"HTTP/1.1 218 Odd\r\nX-A: 1\r\nContent-Length: 4\r\n")
    sim = await start_sim(buyer(scripted=script))
    async with http.post(sim.url("acme", "ping"), json=LEAD) as r:
        assert (r.status, r.headers["X-A"], await r.read()) == (218, "1", b"\xff\x00ok")
    await asyncio.sleep(0)
    assert sim.received("acme")[0].outcome == "scripted"


def test_the_new_keys_load_from_a_file_and_old_files_still_do(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        """\
buyers:
  - {name: old, bid_min: 1, bid_max: 2, garbage_rate: 0.1}
  - name: hostile
    bid_min: 1
    bid_max: 2
    answer_status: 422
    answer_pieces: 2
    piece_delay_ms: 60
    chunked: true
    redirect_status: 307
    redirect_location: http://elsewhere.example/
    ping_price: "1e30"
    scripted: {status: 200, headers: [[Content-Type, text/plain]], body: "hello"}
"""
    )
    old, hostile = load_config(path).buyers
    assert old.answer_status == 200 and old.scripted is None and old.answer_pieces == 1
    assert hostile.scripted is not None and hostile.scripted.body == b"hello"
    assert hostile.redirect_status == 307 and hostile.chunked
    path.write_text("buyers:\n  - {name: x, bid_min: 1, bid_max: 2, scripted: {stauts: 200}}\n")
    with pytest.raises(SimulatorConfigError, match=r"scripted\.stauts: unknown key.*status"):
        load_config(path)
    path.write_text("buyers:\n  - {name: x, bid_min: 1, bid_max: 2, redirect_status: 307}\n")
    with pytest.raises(SimulatorConfigError, match="redirect_location"):
        load_config(path)
