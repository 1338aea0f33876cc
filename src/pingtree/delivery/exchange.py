"""One request to a buyer and its answer, read whole: the I/O under every ping and post.

An answer is read whole (up to a limit) before any rule looks at it, and redirects are
never followed (`delivery.connections` sends and reads). `deliver` never raises for
anything a buyer or the network does: it comes back with the answer as read (`Received`,
with the fault that makes it no answer, if any) or with why there is none (`Failed`:
timeout, refused connection, a broken exchange).
`deliver_and_read` reads that answer by the campaign's rules as well. They run in the
lead's process, or in a delivery process (`delivery.offload`): the same code either way,
so a hostile buyer meets the same rules.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from pingtree.buyers.model import Outcome
from pingtree.delivery.connections import BrokenExchange, BuyerConnections, ConnectFailed
from pingtree.delivery.requests import OutboundRequest
from pingtree.delivery.responses import Answered, AnswerFault, BuyerResponse, Reader
from pingtree.failures import describe, stack

DEFAULT_ANSWER_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Received:
    """An answer as read off the wire, and the fault that makes it no answer, if any."""

    response: BuyerResponse
    fault: str | None


@dataclass(frozen=True)
class Failed:
    """No answer: the attempt's outcome and reason; for a failure nobody foresaw, what the
    log gets (the exception's classes and stack, never its values)."""

    outcome: Outcome
    reason: str
    unexpected: str | None = None


async def deliver(
    connections: BuyerConnections,
    request: OutboundRequest,
    timeout: float,
    answer_limit: int = DEFAULT_ANSWER_LIMIT,
) -> Received | Failed:
    """Send one request and read its answer whole within timeout; never raises for what a
    buyer or the network does (cancellation passes through)."""
    try:
        return await exchange(connections, request, timeout, answer_limit)
    except TimeoutError:
        return Failed(Outcome.TIMEOUT, f"no answer within {timeout:.3f}s")
    except ConnectFailed as exc:
        return Failed(Outcome.ERROR, f"connection failed: {exc.os_error}")
    except (BrokenExchange, ValueError) as exc:
        return Failed(Outcome.ERROR, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        detail = AnswerFault.UNREADABLE.because(f"{type(exc).__name__}: {exc}")
        return Failed(Outcome.ERROR, detail, unexpected=f"{describe(exc)}\n{stack(exc)}")


async def deliver_and_read(
    connections: BuyerConnections,
    request: OutboundRequest,
    timeout: float,
    answer_limit: int,
    reader: Reader,
) -> Answered | Failed:
    """deliver(), and the answer read by the campaign's rules."""
    received = await deliver(connections, request, timeout, answer_limit)
    if isinstance(received, Failed):
        return received
    return reader.read(received.response, received.fault)


async def exchange(
    connections: BuyerConnections,
    request: OutboundRequest,
    timeout: float,
    answer_limit: int = DEFAULT_ANSWER_LIMIT,
) -> Received:
    """Send one request and read its answer whole; raises on timeout or connection failure."""
    # One budget covers connect, send and the whole body's read.
    async with asyncio.timeout(timeout):
        got = await connections.exchange(
            request.method,
            request.url,
            request.headers,
            request.body,
            answer_limit,
            party=request.party,
        )
    text = _decode(got.body, charset_of(got.header("Content-Type")))
    return Received(BuyerResponse(status=got.status, headers=got.headers, text=text), got.fault)


def charset_of(content_type: str | None) -> str | None:
    """The charset a Content-Type names, if any."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


_BOM = "\ufeff"


def _decode(raw: bytes, charset: str | None) -> str:
    """The body as text: its declared charset when Python knows it as a text codec, else UTF-8;
    without the byte order mark some buyers' frameworks write first (JSON and XML parsers
    refuse a document behind one: the buyer's accept would be read as an error)."""
    if charset:
        # bytes.decode refuses codecs that are not text encodings ("hex", "rot13").
        with contextlib.suppress(LookupError, ValueError, TypeError):
            return raw.decode(charset, "replace").removeprefix(_BOM)
    return raw.decode("utf-8", "replace").removeprefix(_BOM)
