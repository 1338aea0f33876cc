"""One request to a buyer and its answer, read whole: the I/O under every ping and post.

An answer is read whole (up to a limit) before any rule looks at it, and redirects are
never followed. `deliver` never raises for anything a buyer or the network does: it comes
back with the answer as read (`Received`, with the fault that makes it no answer, if any)
or with why there is none (`Failed`: timeout, refused connection, a broken exchange).
`deliver_and_read` reads that answer by the campaign's rules as well. They run in the
lead's process, or in a delivery process (`delivery.offload`): the same code either way,
so a hostile buyer meets the same rules.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import aiohttp

from pingtree.buyers.model import Outcome
from pingtree.delivery.destinations import Allowlist, guarded_socket_factory
from pingtree.delivery.requests import OutboundRequest
from pingtree.delivery.responses import Answered, AnswerFault, BuyerResponse, Reader
from pingtree.failures import describe, stack

DEFAULT_ANSWER_LIMIT = 1024 * 1024
KEPT_OF_A_LARGE_ANSWER = 4000
"""What is kept of an answer over the limit (for its record)."""
UNTIMED = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)
"""aiohttp's timers for an exchange: none (the exchange's own deadline bounds it all)."""


def new_session(connection_limit: int = 1000, *, allow: Allowlist) -> aiohttp.ClientSession:
    """The one outbound session a process keeps open; pings and posts share its pool.

    Every connection's address is checked against the allowlist as it is opened. It keeps
    no cookie: each request stands alone, so a buyer's Set-Cookie is never sent with a later
    lead, nor to another buyer on the same host.
    """
    connector = aiohttp.TCPConnector(
        limit=connection_limit,
        limit_per_host=0,
        ttl_dns_cache=300,
        socket_factory=guarded_socket_factory(allow),
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": "pingtree"},
        cookie_jar=aiohttp.DummyCookieJar(),
    )


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
    session: aiohttp.ClientSession,
    request: OutboundRequest,
    timeout: float,
    answer_limit: int = DEFAULT_ANSWER_LIMIT,
) -> Received | Failed:
    """Send one request and read its answer whole within timeout; never raises for what a
    buyer or the network does (cancellation passes through)."""
    try:
        return await exchange(session, request, timeout, answer_limit)
    except TimeoutError:
        return Failed(Outcome.TIMEOUT, f"no answer within {timeout:.3f}s")
    except aiohttp.ClientConnectorError as exc:
        return Failed(Outcome.ERROR, f"connection failed: {exc.os_error}")
    except (aiohttp.ClientError, ValueError) as exc:
        return Failed(Outcome.ERROR, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        detail = AnswerFault.UNREADABLE.because(f"{type(exc).__name__}: {exc}")
        return Failed(Outcome.ERROR, detail, unexpected=f"{describe(exc)}\n{stack(exc)}")


async def deliver_and_read(
    session: aiohttp.ClientSession,
    request: OutboundRequest,
    timeout: float,
    answer_limit: int,
    reader: Reader,
) -> Answered | Failed:
    """deliver(), and the answer read by the campaign's rules."""
    received = await deliver(session, request, timeout, answer_limit)
    if isinstance(received, Failed):
        return received
    return reader.read(received.response, received.fault)


async def exchange(
    session: aiohttp.ClientSession,
    request: OutboundRequest,
    timeout: float,
    answer_limit: int = DEFAULT_ANSWER_LIMIT,
) -> Received:
    """Send one request and read its answer whole; raises on timeout or connection failure."""
    # asyncio.timeout covers connect, send and the whole body read in one budget
    # (aiohttp's own timers, one more per request, are off: UNTIMED).
    async with asyncio.timeout(timeout):
        async with session.request(
            request.method,
            request.url,
            headers=request.headers,
            data=request.body,
            timeout=UNTIMED,
            # A redirect would carry the whole lead, credentials included, to an address
            # nobody configured; the 3xx itself is the (error) answer.
            allow_redirects=False,
        ) as resp:
            raw, fault = await _read_whole(resp, answer_limit)
            text = _decode(raw, resp.charset)
            # items() of the multidict keeps repeated headers (several Set-Cookie).
            headers = list(resp.headers.items())
            response = BuyerResponse(status=resp.status, headers=headers, text=text)
            return Received(response, fault)


async def _read_whole(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, str | None]:
    """The complete body, or what came of it and why it is not an answer."""
    declared = resp.content_length
    if declared is not None and declared > limit:
        detail = f"Content-Length {declared} is over the {limit}-byte limit"
        return b"", AnswerFault.ANSWER_TOO_LARGE.because(detail)
    raw = bytearray()
    try:
        async for chunk in resp.content.iter_any():
            raw += chunk
            if len(raw) > limit:
                detail = f"answer is over the {limit}-byte limit"
                kept = bytes(raw[:KEPT_OF_A_LARGE_ANSWER])
                return kept, AnswerFault.ANSWER_TOO_LARGE.because(detail)
    except aiohttp.ClientPayloadError as exc:
        detail = f"connection closed after {len(raw)} bytes"
        if declared is not None:
            detail += f" of {declared}"
        return bytes(raw), AnswerFault.ANSWER_INCOMPLETE.because(f"{detail} ({exc})")
    return bytes(raw), None


def _decode(raw: bytes, charset: str | None) -> str:
    """The body as text: its declared charset when Python knows it as a text codec, else UTF-8."""
    if charset:
        # bytes.decode refuses codecs that are not text encodings ("hex", "rot13").
        with contextlib.suppress(LookupError, ValueError, TypeError):
            return raw.decode(charset, "replace")
    return raw.decode("utf-8", "replace")
