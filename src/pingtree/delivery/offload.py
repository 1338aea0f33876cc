"""A delivery process: the buyer requests of a server process, sent from a process of their own.

A ping_post lead is ten pings and a post; sending them and reading their answers is about
half of what the lead's process spends on it (bench/delivery.py). Where that process is
the limit (SQLite has one server process, one core), `PINGTREE_DELIVERY_PROCESS` (on by
default with SQLite) hands each request to a child process
(delivery.exchange.deliver_and_read: connect, send, read whole, classify what failed,
read the answer by the campaign's rules), and the lead's process keeps building requests
and recording them, masked and bounded. A hostile buyer meets the same code either way.

The two talk over a socket pair in frames (4-byte length, then a marshalled list of
messages); the requests and answers of one event-loop turn go as one frame. Both ends are
this program: nothing else can reach the socket pair.

- The attempt's deadline is kept here, in the lead's process: the exchange is cut off at
  `timeout` (TIMEOUT, and the child is told to drop it) whatever the child is doing, and
  waiting for a child that is starting counts against it.
- The child dying fails each exchange in flight (an error attempt: the lead cascades),
  and the next request starts a new child. A child that stops answering (asked after a
  request times out, unanswered for STUCK_S) is killed, with the same effect. The child
  leaves when the socket closes, so it never outlives its server, and takes no SIGINT or
  SIGTERM of its own: the server finishing its leads still needs it.
- Each endpoint's response rules go to the child once, as JSON validated there (a Reader
  by number); a new configuration's rules are new readers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import marshal
import signal
import socket
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pingtree.buyers.model import Outcome, ResponseRules
from pingtree.delivery.connections import BuyerConnections
from pingtree.delivery.destinations import Allowlist
from pingtree.delivery.exchange import Failed, deliver, deliver_and_read
from pingtree.delivery.requests import OutboundRequest
from pingtree.delivery.responses import (
    Answered,
    AnswerFault,
    Reader,
    Reading,
    answered_as_error,
)
from pingtree.failures import log_failure

log = logging.getLogger("pingtree.delivery")

START_TIMEOUT_S = 60.0
"""How long a new child may take to say it is ready (it imports pingtree's delivery code)."""
_HEADER = 4
_Message = tuple[Any, ...]
STUCK_S = 5.0
"""A child that leaves a liveness check this long unanswered, while requests time out, is
stuck (a pathological answer spinning its loop, a stopped process): it is killed and the
next request starts another."""
MAX_READERS = 10_000
"""Readers a child keeps (one per campaign endpoint, renewed with each configuration);
past it both ends start afresh."""
# Messages. To the child: ("alive?",), ("reader", number, campaign, rules as JSON, max_price, bid),
# ("forget",) (every reader), ("send", id, reader number, method, url, headers, body,
# timeout, answer_limit), ("drop", id). From the child: ("ready",), ("alive",),
# ("answered", id, status, text, location, reading..., unexpected),
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
        try:
            frame = marshal.dumps(messages)
        except ValueError:  # a value that is not plain: each message alone, that one lost
            for message in messages:
                try:
                    self._write(marshal.dumps([message]))
                except ValueError:  # its exchange ends at its deadline, as a timeout
                    log.error("a %s message could not be passed on", message[0])
            return
        self._write(frame)

    def _write(self, frame: bytes) -> None:
        assert self.transport is not None
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
        self.waiting: dict[int, asyncio.Future[Answered | Failed]] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.alive = True
        self.link = _Link(self._handle, self._lost)
        self.process: asyncio.subprocess.Process | None = None
        self.readers: set[int] = set()
        """The readers this child has been sent."""
        self.asked_at: float | None = None
        """When a liveness check went unanswered so far (None: none is out)."""

    def _handle(self, message: _Message) -> None:
        kind = message[0]
        if kind == "ready":
            if not self.ready.done():
                self.ready.set_result(None)
            return
        if kind == "alive":
            self.asked_at = None
            return
        waiter = self.waiting.pop(message[1], None)
        if waiter is None or waiter.done():
            return  # dropped here already (its deadline passed)
        if kind == "answered":
            waiter.set_result(_answered(message))
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


def _answered(message: _Message) -> Answered:
    _, _, status, text, location, outcome, price, reference, reason, redirect_url, *rest = message
    answered_price, captured, unexpected = rest
    reading = Reading(
        Outcome(outcome),
        price=Decimal(price) if price is not None else None,
        reference=reference,
        reason=reason,
        redirect_url=redirect_url,
        answered_price=answered_price,
        captured=captured,
    )
    return Answered(status, text, location, reading, unexpected)


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
        self._readers: dict[tuple[int, str, Decimal, bool], tuple[Reader, int]] = {}

    async def start(self) -> None:
        """Start the child and wait until it is ready (also done by the first request)."""
        await self._live()

    async def __call__(
        self, request: OutboundRequest, timeout: float, answer_limit: int, reader: Reader
    ) -> Answered | Failed:
        child: _Child | None = None
        number = next(self._ids)
        try:
            async with asyncio.timeout(timeout):
                child = await self._live()
                try:
                    message = (
                        "send",
                        number,
                        self._reader(child, reader),
                        request.method,
                        request.url,
                        {str(name): str(value) for name, value in request.headers.items()},
                        bytes(request.body),
                        request.party,
                        timeout,
                        answer_limit,
                    )
                except Exception as exc:  # rules that will not serialise: this attempt only
                    log_failure(log, "campaign %s: not handed over", exc, reader.campaign)
                    detail = f"{type(exc).__name__} handing the request to the delivery process"
                    return Failed(Outcome.ERROR, detail)
                waiter: asyncio.Future[Answered | Failed]
                waiter = asyncio.get_running_loop().create_future()
                child.waiting[number] = waiter
                child.link.send(message)
                return await waiter
        except TimeoutError:
            if child is not None:
                self._check(child)
            return Failed(Outcome.TIMEOUT, f"no answer within {timeout:.3f}s")
        except _NoChild as exc:
            return Failed(Outcome.ERROR, str(exc))
        finally:
            if child is not None and child.waiting.pop(number, None) is not None:
                child.link.send(("drop", number))  # cut off here: the child stops too

    def _check(self, child: _Child) -> None:
        """After a request timed out: ask whether the child is alive; kill it when an
        earlier question has gone unanswered for STUCK_S (what it held ends as errors)."""
        now = time.monotonic()
        if child.asked_at is None:
            child.asked_at = now
            child.link.send(("alive?",))
        elif now - child.asked_at > STUCK_S and child.alive:
            pid = child.process.pid if child.process is not None else None
            log.error("delivery process %s answers nothing for %.1f s: restarting it", pid, STUCK_S)
            self._end(child)

    def _reader(self, child: _Child, reader: Reader) -> int:
        """The reader's number, sent to the child first if it has not had it."""
        key = (id(reader.rules), reader.campaign, reader.max_price, reader.bid)
        known = self._readers.get(key)
        if known is None or known[0].rules is not reader.rules:
            if len(self._readers) >= MAX_READERS:  # configurations come and go
                self._readers.clear()
                child.readers.clear()
                child.link.send(("forget",))
            known = (reader, len(self._readers))  # the rules kept: their id is not reused
            self._readers[key] = known
        number = known[1]
        if number not in child.readers:
            rules = reader.rules.model_dump_json(exclude_unset=True)
            max_price = str(reader.max_price)
            child.link.send(("reader", number, reader.campaign, rules, max_price, reader.bid))
            child.readers.add(number)
        return number

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
        child.alive = False  # the next request starts another (its socket closes later)
        if child.link.transport is not None:
            child.link.transport.close()
        process = child.process
        if process is not None and process.returncode is None:
            process.kill()  # it takes no SIGTERM (main())

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

    def __init__(self, connections: BuyerConnections, done: asyncio.Future[None]) -> None:
        self.connections = connections
        self.done = done
        self.link = _Link(self._handle, self._lost)
        self.running: dict[int, asyncio.Task[None]] = {}
        self.readers: dict[int, Reader | str] = {}
        """By number: each reader, or why its rules could not be taken."""

    def _handle(self, message: _Message) -> None:
        kind = message[0]
        if kind == "drop":
            task = self.running.pop(message[1], None)
            if task is not None:
                task.cancel()
        elif kind == "alive?":
            self.link.send(("alive",))
        elif kind == "reader":
            _, number, campaign, rules, max_price, bid = message
            try:
                parsed = ResponseRules.model_validate_json(rules)
            except ValueError as exc:  # rules no configuration would pass (built in code)
                detail = f"the campaign's response rules do not validate: {exc}"[:500]
                self.readers[number] = AnswerFault.UNREADABLE.because(detail)
            else:
                self.readers[number] = Reader(campaign, parsed, Decimal(max_price), bid)
        elif kind == "forget":
            self.readers.clear()
        else:
            _, number, reader, method, url, headers, body, party, timeout, limit = message
            request = OutboundRequest(method, url, headers, body, party=party)
            task = asyncio.get_running_loop().create_task(
                self._run(number, request, timeout, limit, self.readers[reader])
            )
            self.running[number] = task

    async def _run(
        self,
        number: int,
        request: OutboundRequest,
        timeout: float,
        limit: int,
        reader: Reader | str,
    ) -> None:
        outcome: Answered | Failed
        try:
            if isinstance(reader, Reader):
                outcome = await deliver_and_read(self.connections, request, timeout, limit, reader)
            else:  # sent as in the server's process, where reading it would fail
                got = await deliver(self.connections, request, timeout, limit)
                outcome = (
                    got if isinstance(got, Failed) else answered_as_error(got.response, reader)
                )
        finally:
            self.running.pop(number, None)
        if isinstance(outcome, Failed):
            failed = ("failed", number, outcome.outcome.value, outcome.reason, outcome.unexpected)
            self.link.send(failed)
            return
        reading = outcome.reading
        self.link.send(
            (
                "answered",
                number,
                outcome.status,
                outcome.text,
                # plain str: a multidict's values may be a subclass, which marshal refuses
                str(outcome.location) if outcome.location is not None else None,
                reading.outcome.value,
                str(reading.price) if reading.price is not None else None,
                reading.reference,
                reading.reason,
                reading.redirect_url,
                reading.answered_price,
                reading.captured,
                outcome.unexpected,
            )
        )

    def _lost(self) -> None:
        for task in self.running.values():
            task.cancel()
        if not self.done.done():
            self.done.set_result(None)


async def serve(fd: int, allow: str, connection_limit: int) -> None:
    """The child: deliver what the server sends on the socket fd until it closes."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    connections = BuyerConnections(Allowlist.parse(allow), limit=connection_limit)
    deliveries = _Deliveries(connections, done)
    sock = socket.socket(fileno=fd)
    await loop.create_unix_connection(lambda: deliveries.link, sock=sock)
    deliveries.link.send(("ready",))
    try:
        await done
    finally:
        await connections.close()


def main(argv: list[str]) -> None:
    fd, allow, limit = int(argv[0]), argv[1], int(argv[2])
    logging.basicConfig(level=logging.WARNING)
    # Ctrl-C in a terminal, or a service manager's SIGTERM to every process of the service,
    # must not take the requests of leads the server is still finishing: the child leaves
    # when the server closes its socket (or dies).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed with uvicorn[standard]
        asyncio.run(serve(fd, allow, limit))
    else:
        uvloop.run(serve(fd, allow, limit))


if __name__ == "__main__":
    main(sys.argv[1:])
