"""CPU per buyer request: pingtree's gateway next to bare aiohttp, in the same run.

A ping_post lead is ten pings and a post: on the engine benchmark about half the app's CPU
per lead goes to them. This sends the same requests, one at a time, to one simulated buyer
(`pingtree buyers-sim`, a process of its own) in two ways and prints the CPU time this
process spends per request:

  bare      aiohttp alone: post the JSON body, read the answer, json.loads it (the floor's
            way in bench/engine.py)
  exchange  HttpGateway.exchange: the same request under the gateway's deadline, its body
            read whole and bounded, headers kept
  ping      HttpGateway.ping: build the request from the campaign, exchange, read the
            answer by the campaign's rules, mask and bound what is recorded
  ping, delivery process
            the same with the exchange sent from a delivery process
            (PINGTREE_DELIVERY_PROCESS): this process's part of it

and, on their own without I/O, the two steps of pingtree's own around the exchange (build
the request; read the answer, its JSON parsed each time). The parts cost more on the
lead's path than alone (the CPU's caches are colder between network reads): `ping -
exchange` is what they cost there.

Run: .venv/bin/python bench/delivery.py [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import yaml

from engine import JSON_PING, PINGTREE, free_port, start, stop, wait_http
from machine import describe as describe_machine
from pingtree.buyers.model import Campaign
from pingtree.clock import SystemClock
from pingtree.delivery.connections import BuyerConnections
from pingtree.delivery.destinations import Allowlist
from pingtree.delivery.gateway import HttpGateway
from pingtree.delivery.offload import DeliveryProcess
from pingtree.delivery.responses import read_response

FIELDS = {"state": "CA", "age": 40, "zip": "90210", "credit": "good", "home_owner": True}
Way = Callable[[], Awaitable[None]]


def cpu_per_call_us(way: Way, n: int) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        started = time.thread_time()
        for _ in range(n):
            await way()
        return (time.thread_time() - started) / n * 1e6

    return run


async def measure(base: str, requests: int, rounds: int) -> dict[str, list[float]]:
    campaign = Campaign.model_validate(
        {
            "name": "b",
            "buyer": "b",
            "vertical": "bench",
            "price": {"type": "bid"},
            "delivery": {
                "timeout_ms": 1000,
                "ping": {"url": f"{base}/buyers/b/ping", "response": JSON_PING},
                "post": {"url": f"{base}/buyers/b/post", "response": JSON_PING},
            },
        }
    )
    endpoint = campaign.delivery.ping
    assert endpoint is not None
    session = BuyerConnections(Allowlist.parse("127.0.0.1"))
    bare_session = aiohttp.ClientSession()
    gateway = HttpGateway(session, SystemClock())
    offload = DeliveryProcess(allow="127.0.0.1")
    await offload.start()
    offloaded = HttpGateway(session, SystemClock(), deliverer=offload)
    request = gateway.request_for(
        campaign, endpoint, FIELDS, lead_id="lead", bid_reference=None, test=False
    )
    body = json.dumps({**FIELDS, "lead_id": "lead"}).encode()
    headers = {"Content-Type": "application/json"}

    async def bare() -> None:
        async with bare_session.post(endpoint.url, data=body, headers=headers) as resp:
            json.loads(await resp.read())

    async def exchange() -> None:
        await gateway.exchange(request, 1.0)

    async def ping() -> None:
        answer = await gateway.ping(campaign, lead_id="lead", fields=FIELDS, test=False, timeout=1)
        assert answer.reading.outcome.value == "accepted", answer.reading

    async def ping_offloaded() -> None:
        answer = await offloaded.ping(
            campaign, lead_id="lead", fields=FIELDS, test=False, timeout=1
        )
        assert answer.reading.outcome.value == "accepted", answer.reading

    received = await gateway.exchange(request, 1.0)

    async def build() -> None:
        gateway.request_for(
            campaign, endpoint, FIELDS, lead_id="lead", bid_reference=None, test=False
        )

    async def read() -> None:
        received.response.__dict__.pop("parsed_json", None)  # parsed afresh, as each answer is
        read_response(endpoint.response, received.response, bid=True)

    ways: dict[str, tuple[Way, int]] = {
        "bare": (bare, requests),
        "exchange": (exchange, requests),
        "ping": (ping, requests),
        "ping, delivery process": (ping_offloaded, requests),
        "build the request": (build, requests * 10),
        "read the answer": (read, requests * 10),
    }
    figures: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for _ in range(rounds):  # interleaved, so a slow phase of the machine hits every way
            for name, (way, n) in ways.items():
                for _ in range(min(n, 200)):  # warm: connections open, caches filled
                    await way()
                figures[name].append(await cpu_per_call_us(way, n)())
    finally:
        await offload.close()
        await bare_session.close()
        await session.close()
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per way and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        config = Path(work) / "buyers.yaml"
        buyer = {"name": "b", "bid_min": "5.00", "bid_max": "50.00", "seed": 1}
        config.write_text(yaml.safe_dump({"buyers": [buyer]}))
        log = Path(work) / "simulator.log"
        command = [PINGTREE, "buyers-sim", "--config", str(config), "--port", str(port)]
        simulator = start(command, dict(os.environ), Path(work), log)
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_http(f"{base}/health", simulator, log)
            figures = await measure(base, args.requests, args.rounds)
        finally:
            stop(simulator)
    print(f"\nCPU per buyer request in this process, {describe_machine()}")
    print(f"{args.requests} requests per way, {args.rounds} rounds; median (min-max) microseconds")
    bare = statistics.median(figures["bare"])
    for name, values in figures.items():
        median = statistics.median(values)
        compared = ("exchange", "ping", "ping, delivery process")
        versus = f"  x{median / bare:.2f} bare" if name in compared else ""
        print(f"  {name:22s} {median:7.1f} ({min(values):.1f}-{max(values):.1f}){versus}")


if __name__ == "__main__":
    asyncio.run(main())
