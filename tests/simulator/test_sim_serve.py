"""The blocking serve() the CLI runs, in its own process as the CLI would."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import textwrap

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_serve_runs_until_sigterm() -> None:
    port = free_port()
    script = textwrap.dedent(
        f"""
        from pingtree.simulator import SimBuyer, SimulatorConfig, serve
        serve(SimulatorConfig(port={port}, buyers=[SimBuyer(name="acme", bid_min=1, bid_max=2)]))
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        banner = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert f"http://127.0.0.1:{port}" in banner.decode()
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/buyers/acme/ping"
            async with http.post(url, json={}) as r:
                assert (await r.json())["status"] == "bid"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
