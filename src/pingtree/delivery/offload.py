"""A delivery process: the buyer requests of a server process, sent from a process of their own.

A ping_post lead is ten pings and a post; the HTTP work of them is about half of what the
lead's process spends on it (bench/delivery.py). Where that process is the limit (SQLite
has one server process, one core), `PINGTREE_DELIVERY_PROCESS=true` hands each request's
exchange (delivery.exchange.deliver: connect, send, read whole, classify what failed) to a
child process, and the lead's process keeps building requests, reading answers by the
campaign's rules and recording them. A hostile buyer meets the same code either way.

The two talk over a socket pair in frames (4-byte length, then a marshalled list
of messages); the requests and answers of one event-loop turn go as one frame. Both ends are
this program: nothing else can reach the socket pair.

- The attempt's deadline is kept here, in the lead's process: the exchange is cut off at
  `timeout` (TIMEOUT, and the child is told to drop it) whatever the child is doing, and
  waiting for a child that is starting counts against it.
- The child dying fails each exchange in flight (an error attempt: the lead cascades),
  and the next request starts a new child. The child leaves when the socket closes, so it
  never outlives its server.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import marshal
import socket
import sys
from collections.abc import Callable
from typing import Any

import aiohttp

from pingtree.buyers.model import Outcome
from pingtree.delivery.destinations import Allowlist
from pingtree.delivery.exchange import Failed, Received, deliver, new_session
from pingtree.delivery.requests import OutboundRequest
from pingtree.delivery.responses import BuyerResponse

log = logging.getLogger("pingtree.delivery")

START_TIMEOUT_S = 60.0
"""How long a new child may take to say it is ready (it imports aiohttp and pingtree)."""
_HEADER = 4
_Message = tuple[Any, ...]
# Messages. To the child: ("send", id, method, url, headers, body, timeout, answer_limit),
# ("drop", id). From the child: ("ready",), ("received", id, status, headers, text, fault),
# ("failed", id, outcome, reason, unexpected).


class _Link(asyncio.Protocol):
    """One end of the socket pair: frames out (one per loop turn), frames in, to handle."""

    def __init__(self, handle: Callable[[_Message], None], lost: Callable[[], None]) -> None:
        self._handle = handle
        self._lost = lost
        self._out: list[_Message] = []
        self._in = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, message: _Message) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self._out.append(message)
        if len(self._out) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        messages, self._out = self._out, []
        if self.transport is None or self.transport.is_closing() or not messages:
            return
        frame = marshal.dumps(messages)
        self.transport.write(len(frame).to_bytes(_HEADER, "big") + frame)

    def data_received(self, data: bytes) -> None:
        buffer = self._in
        buffer += data
        while len(buffer) >= _HEADER:
            size = int.from_bytes(buffer[:_HEADER], "big")
            if len(buffer) < _HEADER + size:
                return
            # Both ends are this program (a socket pair): marshal, the fastest of Python's
            # serialisers for plain values, builds nothing but them.
            messages = marshal.loads(buffer[_HEADER : _HEADER + size])  # noqa: S302
            del buffer[: _HEADER + size]
            for message in messages:
                self._handle(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()


class _Child:
    """A running delivery process and the exchanges waiting on it."""

    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[Received | Failed]] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.alive = True
        self.link = _Link(self._handle, self._lost)
        self.process: asyncio.subprocess.Process | None = None

    def _handle(self, message: _Message) -> None:
        kind = message[0]
        if kind == "ready":
            if not self.ready.done():
                self.ready.set_result(None)
            return
        waiter = self.waiting.pop(message[1], None)
        if waiter is None or waiter.done():
            return  # dropped here already (its deadline passed)
        if kind == "received":
            _, _, status, headers, text, fault = message
            waiter.set_result(Received(BuyerResponse(status, headers, text), fault))
        else:
            _, _, outcome, reason, unexpected = message
            waiter.set_result(Failed(Outcome(outcome), reason, unexpected))

    def _lost(self) -> None:
        self.alive = False
        gone = Failed(Outcome.ERROR, "the delivery process exited before the answer came")
        for waiter in self.waiting.values():
            if not waiter.done():
                waiter.set_result(gone)
        self.waiting.clear()
        if not self.ready.done():
            self.ready.set_exception(RuntimeError("the delivery process exited while starting"))


class DeliveryProcess:
    """Sends requests from a child process (a `Deliverer` for HttpGateway)."""

    def __init__(self, *, allow: str, connection_limit: int = 1000) -> None:
        """allow: PINGTREE_BUYER_URL_ALLOW as written (the child parses it again)."""
        Allowlist.parse(allow)  # refused here, not in the child
        self.allow = allow
        self.connection_limit = connection_limit
        self._child: _Child | None = None
        self._starting: asyncio.Task[_Child] | None = None
        self._ids = itertools.count()
        self._closed = False

    async def start(self) -> None:
        """Start the child and wait until it is ready (also done by the first request)."""
        await self._live()

    async def __call__(
        self, request: OutboundRequest, timeout: float, answer_limit: int
    ) -> Received | Failed:
        child: _Child | None = None
        number = next(self._ids)
        try:
            async with asyncio.timeout(timeout):
                child = await self._live()
                waiter: asyncio.Future[Received | Failed]
                waiter = asyncio.get_running_loop().create_future()
                child.waiting[number] = waiter
                child.link.send(
                    (
                        "send",
                        number,
                        request.method,
                        request.url,
                        {str(name): str(value) for name, value in request.headers.items()},
                        bytes(request.body),
                        timeout,
                        answer_limit,
                    )
                )
                return await waiter
        except TimeoutError:
            return Failed(Outcome.TIMEOUT, f"no answer within {timeout:.3f}s")
        except _NoChild as exc:
            return Failed(Outcome.ERROR, str(exc))
        finally:
            if child is not None and child.waiting.pop(number, None) is not None:
                child.link.send(("drop", number))  # cut off here: the child stops too

    async def _live(self) -> _Child:
        child = self._child
        if child is not None and child.alive:
            return child
        if self._closed:
            raise _NoChild("the delivery process is stopped")
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start())
        try:
            # shielded: a request cut off by its deadline leaves the start to the next one
            return await asyncio.shield(self._starting)
        except (OSError, RuntimeError) as exc:
            raise _NoChild(f"the delivery process could not start: {exc}") from exc

    async def _start(self) -> _Child:
        self._reap()
        child = _Child()
        ours, theirs = socket.socketpair()
        try:
            command = [sys.executable, "-m", "pingtree.delivery.offload"]
            command += [str(theirs.fileno()), self.allow, str(self.connection_limit)]
            child.process = await asyncio.create_subprocess_exec(
                *command, pass_fds=[theirs.fileno()]
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        loop = asyncio.get_running_loop()
        await loop.create_unix_connection(lambda: child.link, sock=ours)
        try:
            await asyncio.wait_for(asyncio.shield(child.ready), START_TIMEOUT_S)
        except BaseException:
            self._end(child)
            raise
        self._child = child
        log.info("delivery process %d started", child.process.pid)
        return child

    def _reap(self) -> None:
        if self._child is not None:
            self._end(self._child)
            self._child = None

    @staticmethod
    def _end(child: _Child) -> None:
        if child.link.transport is not None:
            child.link.transport.close()
        process = child.process
        if process is not None and process.returncode is None:
            process.terminate()

    async def close(self) -> None:
        """Stop the child; exchanges still waiting end as errors."""
        self._closed = True
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        child = self._child
        self._child = None
        if child is None:
            return
        if child.link.transport is not None:
            child.link.transport.close()  # the child leaves when its socket closes
        process = child.process
        if process is not None:
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()

    @property
    def pid(self) -> int | None:
        """The running child's process id (None before it starts)."""
        child = self._child
        return child.process.pid if child is not None and child.process is not None else None


class _NoChild(Exception):
    """No delivery process to send through: stopped, or it could not start."""


# --- the child ------------------------------------------------------------------------------


class _Deliveries:
    """The child's side: each request sent as it comes, its outcome sent back."""

    def __init__(self, session: aiohttp.ClientSession, done: asyncio.Future[None]) -> None:
        self.session = session
        self.done = done
        self.link = _Link(self._handle, self._lost)
        self.running: dict[int, asyncio.Task[None]] = {}

    def _handle(self, message: _Message) -> None:
        if message[0] == "drop":
            task = self.running.pop(message[1], None)
            if task is not None:
                task.cancel()
            return
        _, number, method, url, headers, body, timeout, limit = message
        request = OutboundRequest(method=method, url=url, headers=headers, body=body)
        task = asyncio.get_running_loop().create_task(self._run(number, request, timeout, limit))
        self.running[number] = task

    async def _run(self, number: int, request: OutboundRequest, timeout: float, limit: int) -> None:
        try:
            outcome = await deliver(self.session, request, timeout, limit)
        finally:
            self.running.pop(number, None)
        if isinstance(outcome, Received):
            response = outcome.response
            self.link.send(
                (
                    "received",
                    number,
                    response.status,
                    # plain str: the multidict's names are istr, which marshal refuses
                    [(str(name), str(value)) for name, value in response.header_list],
                    response.text,
                    outcome.fault,
                )
            )
        else:
            failed = ("failed", number, outcome.outcome.value, outcome.reason, outcome.unexpected)
            self.link.send(failed)

    def _lost(self) -> None:
        for task in self.running.values():
            task.cancel()
        if not self.done.done():
            self.done.set_result(None)


async def serve(fd: int, allow: str, connection_limit: int) -> None:
    """The child: deliver what the server sends on the socket fd until it closes."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    session = new_session(connection_limit, allow=Allowlist.parse(allow))
    deliveries = _Deliveries(session, done)
    sock = socket.socket(fileno=fd)
    await loop.create_unix_connection(lambda: deliveries.link, sock=sock)
    deliveries.link.send(("ready",))
    try:
        await done
    finally:
        await session.close()


def main(argv: list[str]) -> None:
    fd, allow, limit = int(argv[0]), argv[1], int(argv[2])
    logging.basicConfig(level=logging.WARNING)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed with uvicorn[standard]
        asyncio.run(serve(fd, allow, limit))
    else:
        uvloop.run(serve(fd, allow, limit))


if __name__ == "__main__":
    main(sys.argv[1:])
