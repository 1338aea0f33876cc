"""Start and stop the simulator: a handle for tests and the demo, a blocking serve for the CLI."""

from __future__ import annotations

import asyncio
import signal
from types import TracebackType
from typing import Literal

from aiohttp import web

from pingtree.clock import Clock
from pingtree.simulator.behaviour import SimBuyer, SimulatorConfig
from pingtree.simulator.server import create_app
from pingtree.simulator.state import BuyerRegistry, ReceivedRequest

EndpointKind = Literal["ping", "post", "received", "available"]

# Hundreds of concurrent connects from a benchmark overflow the default backlog of 128.
BACKLOG = 2048
# In-flight answers get this long to finish on stop; hangs are released at once anyway.
SHUTDOWN_TIMEOUT_S = 2.0


class RunningSimulator:
    """A started simulator: its URLs, its buyers' live behaviour and what they received."""

    def __init__(self, runner: web.AppRunner, registry: BuyerRegistry, host: str, port: int):
        self._runner = runner
        self._registry = registry
        self._stopped = False
        self.host = host
        self.port = port
        self.base_url = f"http://{_url_host(host)}:{port}"

    def url(self, buyer: str, kind: EndpointKind) -> str:
        """The endpoint URL of one buyer, e.g. ``http://127.0.0.1:9100/buyers/acme/post``."""
        self._registry.require(buyer)
        return f"{self.base_url}/buyers/{buyer}/{kind}"

    def buyer(self, name: str) -> SimBuyer:
        """The buyer's live behaviour; assigning to its fields takes effect on the next request."""
        return self._registry.require(name).behaviour

    def set_buyer(self, buyer: SimBuyer) -> None:
        """Add or replace a buyer with a fresh random stream, no bids and no requests."""
        self._registry.put(buyer)

    @property
    def buyer_names(self) -> list[str]:
        """Names of every buyer served."""
        return self._registry.names()

    def received(self, buyer: str) -> list[ReceivedRequest]:
        """Requests the buyer received so far, oldest first."""
        return list(self._registry.require(buyer).received)

    def clear_received(self, buyer: str | None = None) -> None:
        """Forget the requests one buyer (or every buyer) received."""
        names = [buyer] if buyer is not None else self._registry.names()
        for name in names:
            self._registry.require(name).received.clear()

    async def stop(self) -> None:
        """Stop listening and release every open request; stopping twice is harmless."""
        if self._stopped:
            return
        self._stopped = True
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningSimulator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def start_simulator(
    config: SimulatorConfig, *, clock: Clock | None = None
) -> RunningSimulator:
    """Start serving the configured buyers; port 0 picks a free port."""
    registry = BuyerRegistry(config, clock)
    runner = web.AppRunner(
        create_app(registry),
        # So that a client giving up on a slow or hanging buyer frees its handler at once.
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, backlog=BACKLOG)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    port = _bound_port(runner, config.port)
    return RunningSimulator(runner, registry, config.host, port)


def serve(config: SimulatorConfig) -> None:
    """Run the simulator in the foreground until SIGINT or SIGTERM."""
    asyncio.run(_serve(config))


async def _serve(config: SimulatorConfig) -> None:
    sim = await start_simulator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"pingtree buyer simulator listening on {sim.base_url}", flush=True)
    for name in sim.buyer_names:
        print(f"  {name}: {sim.url(name, 'ping')}  {sim.url(name, 'post')}", flush=True)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await sim.stop()


def _bound_port(runner: web.AppRunner, wanted: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return wanted


def _url_host(host: str) -> str:
    # Listening on every interface still means clients on this machine reach it via loopback.
    if host in ("", "0.0.0.0", "::"):  # noqa: S104
        return "127.0.0.1"
    # An IPv6 literal needs brackets inside a URL.
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
