"""Keep-alive HTTP/1.1 connections to buyers: one request sent, its answer read whole.

The pings and posts of a lead are its process's busiest I/O. aiohttp's client spent two to
three times the CPU a request that this does (bench/delivery.py: its request objects,
multidicts, connector locks, tracing signals and stream readers, none of which a ping
needs), so buyer requests go through this small client; webhooks, postbacks and call
availability checks keep aiohttp. What it does, and no more:

- A pool of idle connections per (scheme, host, port) and party (the buyer whose requests
  a connection carries: one buyer's stray answer can never be read as another's), reused
  most recent first; one that sat idle over KEEP_ALIVE_S, that the buyer closed, or that
  received anything while idle is closed instead. A connection is reused only after a
  complete answer the buyer did not mark `Connection: close`; after a timeout, a fault or a
  cancellation it is dropped.
- Every address is checked against the allowlist when a connection is opened (after DNS,
  cached DNS_TTL_S), so a name that resolves to a private address is refused.
- TLS with the system's certificates and host name checking (https).
- The answer's head is parsed by httptools (llhttp); a head over MAX_HEAD_BYTES or that
  is not HTTP fails the exchange. The body is read whole, to the answer limit: a declared
  length over it, or more bytes than it, is ANSWER_TOO_LARGE (the first
  KEPT_OF_A_LARGE_ANSWER bytes kept); so is an answer of more than wire_limit(limit) bytes
  as sent (its chunks' framing, its trailers, its interim answers); a connection closed
  before the declared length or the last chunk is ANSWER_INCOMPLETE. gzip and deflate
  bodies are inflated, bounded by the same limit (none is asked for: no Accept-Encoding is
  sent).
- No redirect is followed, no cookie is kept, interim (1xx) answers are skipped.
- A header name or value that could split the request (CR, LF, NUL) is refused.

The caller bounds the whole exchange (connect, send, read) with its deadline; a cancelled
exchange closes its connection.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
import ssl
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httptools

from pingtree.delivery.destinations import Allowlist, address_problem
from pingtree.delivery.responses import AnswerFault

KEEP_ALIVE_S = 15.0
"""An idle connection older than this is closed rather than reused (aiohttp's default)."""
DNS_TTL_S = 300.0
"""How long a host name's addresses are kept."""
MAX_HEAD_BYTES = 64 * 1024
"""An answer's status line and headers together, at most."""
MAX_HEADERS = 256


def wire_limit(limit: int) -> int:
    """An answer's bytes as sent, at most, for a body limit: its head, and room for its body
    twice over (the framing of small chunks, trailers, interim answers). Trailers come after
    the body, past the head's limit, and the parser grows a header value by a copy of all of
    it for each piece that comes: without this, an endless one held the process's CPU."""
    return MAX_HEAD_BYTES + 2 * limit


KEPT_OF_A_LARGE_ANSWER = 4000
"""What is kept of an answer over the limit (for its record)."""
USER_AGENT = "pingtree"
_URLS_KEPT = 4096


class ConnectFailed(Exception):
    """No connection to the buyer: refused, unreachable, not allowed, TLS failed."""

    def __init__(self, os_error: BaseException) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class BrokenExchange(Exception):
    """The connection closed, or sent something other than HTTP, before an answer's head."""


@dataclass(frozen=True, slots=True)
class WireAnswer:
    """An answer as it came: status, headers (repeats kept, in order), body, and why it is
    not a whole answer (None: it is): `answer_too_large: ...`, `answer_incomplete: ...`."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    fault: str | None = None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


@dataclass(frozen=True, slots=True)
class _Target:
    """A URL as a request line and a connection's key."""

    key: tuple[str, str, int]  # scheme, host (as connected to), port
    host_header: str
    path: str  # the request target: path and query
    tls_name: str | None  # the name TLS checks the certificate against


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {scheme or 'no scheme'}")
    host = parts.hostname
    if not host:
        raise ValueError("the URL has no host")
    port = parts.port or (443 if scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
        host = host.encode("idna").decode("ascii")
    shown = f"[{host}]" if literal is not None and literal.version == 6 else host
    default = 443 if scheme == "https" else 80
    host_header = shown if port == default else f"{shown}:{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~-._")
    if parts.query:
        path += "?" + quote(parts.query, safe="/?%:@!$&'()*+,;=~-._")
    tls_name = host if scheme == "https" else None
    return _Target((scheme, host, port), host_header, path, tls_name)


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SPLITS = re.compile(r"[\r\n\x00]")


def _checked(name: str, value: str) -> tuple[str, str]:
    if _TOKEN.fullmatch(name) is None:
        raise ValueError(f"invalid header name {name!r}")
    if _SPLITS.search(value) is not None:
        raise ValueError(f"header {name} has a CR, LF or NUL in its value")
    return name, value


def request_bytes(method: str, target: _Target, headers: dict[str, str], body: bytes) -> bytes:
    """The request as sent: request line, Host, User-Agent and Accept (each unless the
    request names its own), the request's headers, Content-Length, then the body."""
    if not method.isalpha():
        raise ValueError(f"invalid method {method!r}")
    method = method.upper()
    lines = [f"{method} {target.path} HTTP/1.1"]
    given = {name.lower() for name in headers}
    if "host" not in given:
        lines.append(f"Host: {target.host_header}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}")
    if "accept" not in given:
        lines.append("Accept: */*")
    for name, value in headers.items():
        if name.lower() in _FRAMING:
            continue  # how the message is framed is this client's to say
        checked_name, checked_value = _checked(name, value)
        lines.append(f"{checked_name}: {checked_value}")
    if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + body if body else head


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


class _Connection(asyncio.Protocol):
    """One connection to a buyer: one exchange at a time, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False  # lost, or the buyer ended its side
        self.idle_since = 0.0
        self.waiter: asyncio.Future[WireAnswer] | None = None
        self.limit = 0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.head_bytes = 0
        self.wire_bytes = 0
        self.in_head = True
        self.interim = False
        self.until_close = False
        self.declared: int | None = None
        self.inflate: zlib._Decompress | None = None
        self.reusable = False

    # --- the exchange ---------------------------------------------------------------------

    def expect(self, limit: int) -> asyncio.Future[WireAnswer]:
        assert self.transport is not None
        self._reset()
        self.limit = limit
        self.waiter = asyncio.get_running_loop().create_future()
        return self.waiter

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _answer(self, fault: str | None = None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(WireAnswer(self.status, self.headers, bytes(self.body), fault))
        self.headers = []  # the answer's own from here on
        if fault is not None:
            self.abort()

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.abort()

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # anything sent while idle: not a connection to reuse
            self.abort()
            return
        if self.in_head:
            self.head_bytes += len(data)
        self.wire_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._answer()  # a 101: the answer is its head; not a connection to reuse
            self.abort()
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            self._fail(cause if isinstance(cause, Exception) else BrokenExchange(str(exc)))
        except httptools.HttpParserError as exc:
            if self.in_head:
                self._fail(BrokenExchange(f"not an HTTP answer ({exc})"))
            else:
                detail = f"the answer's body is malformed ({exc})"
                self._answer(AnswerFault.ANSWER_INCOMPLETE.because(detail))
        else:
            if self.waiter is None:
                return
            if self.in_head and self.head_bytes > MAX_HEAD_BYTES:
                self._fail(BrokenExchange(f"the answer's head is over {MAX_HEAD_BYTES} bytes"))
            elif self.wire_bytes > wire_limit(self.limit):
                self._too_large(f"answer is over {wire_limit(self.limit)} bytes as sent")

    def eof_received(self) -> bool:
        self.closed = True
        return False  # the transport closes itself: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None:
            return
        if self.in_head:
            got = f" after {self.head_bytes} bytes of its head" if self.head_bytes else ""
            self._fail(BrokenExchange(f"the buyer closed the connection before an answer{got}"))
        elif self.until_close:
            self._finish_inflate()
            if self.waiter is not None:
                self._answer()
        else:
            detail = f"connection closed after {len(self.body)} bytes"
            if self.declared is not None:
                detail += f" of {self.declared}"
            self._answer(AnswerFault.ANSWER_INCOMPLETE.because(detail))

    # --- httptools' callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.waiter is None:  # a second answer to one request: not a connection to reuse
            self.closed = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.waiter is None:
            return
        if len(self.headers) >= MAX_HEADERS:
            raise BrokenExchange(f"the answer has over {MAX_HEADERS} headers")
        self.headers.append(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        )

    def on_headers_complete(self) -> None:
        if self.waiter is None:
            return
        status = self.parser.get_status_code()
        self.status = status
        if 100 <= status < 200 and status != 101:
            self.interim = True  # 100 Continue and the like: the answer follows
            return
        self.in_head = False
        length = encoding = chunked = None
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == "content-length":
                length = value
            elif lowered == "content-encoding":
                encoding = value.strip().lower()
            elif lowered == "transfer-encoding":
                chunked = "chunked" in value.lower()
        if length is not None and length.strip().isdigit():
            self.declared = int(length)
        self.until_close = not chunked and length is None and status not in (204, 304)
        if self.declared is not None and self.declared > self.limit:
            detail = f"Content-Length {self.declared} is over the {self.limit}-byte limit"
            self._answer(AnswerFault.ANSWER_TOO_LARGE.because(detail))
            return
        if encoding in ("gzip", "x-gzip"):
            self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.inflate = zlib.decompressobj()

    def on_body(self, body: bytes) -> None:
        if self.interim or self.waiter is None:
            return
        if self.inflate is not None:
            try:
                body = self.inflate.decompress(body, self.limit + 1 - len(self.body))
            except zlib.error as exc:
                self._answer(AnswerFault.ANSWER_INCOMPLETE.because(f"cannot inflate it ({exc})"))
                return
        self.body += body
        if len(self.body) > self.limit:
            self._too_large()

    def _too_large(self, detail: str | None = None) -> None:
        del self.body[KEPT_OF_A_LARGE_ANSWER:]
        detail = detail or f"answer is over the {self.limit}-byte limit"
        self._answer(AnswerFault.ANSWER_TOO_LARGE.because(detail))

    def on_message_complete(self) -> None:
        if self.interim:
            self.headers, self.interim, self.head_bytes = [], False, 0
            return
        if self.waiter is None:
            return
        self._finish_inflate()
        if self.waiter is None:
            return
        self.reusable = self.parser.should_keep_alive() and not self.until_close
        self._answer()

    def _finish_inflate(self) -> None:
        if self.inflate is None:
            return
        try:
            rest = self.inflate.flush()
        except zlib.error as exc:
            self._answer(AnswerFault.ANSWER_INCOMPLETE.because(f"cannot inflate it ({exc})"))
            return
        if not self.inflate.eof:
            self._answer(AnswerFault.ANSWER_INCOMPLETE.because("its compressed body ends early"))
            return
        self.body += rest
        if len(self.body) > self.limit:
            self._too_large()


def _stale(conn: _Connection, now: float) -> bool:
    """Whether an idle connection is not to be reused: closed, closing, or idle too long."""
    transport = conn.transport
    return (
        conn.closed
        or transport is None
        or transport.is_closing()
        or now - conn.idle_since > KEEP_ALIVE_S
    )


class BuyerConnections:
    """The connections one process keeps to buyers; pings and posts share them."""

    def __init__(
        self,
        allow: Allowlist,
        *,
        limit: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """limit: requests in flight at once (one connection each); more wait their turn.
        tls: the TLS context (default: the system's certificates, host names checked)."""
        self.allow = allow
        self._idle: dict[tuple[str, str, int, str], list[_Connection]] = {}
        """Idle connections by scheme, host, port and party."""
        self._turns = asyncio.Semaphore(limit) if limit else None
        self._dns: dict[tuple[str, int], tuple[float, list[tuple[int, str]]]] = {}
        self._targets: dict[str, _Target] = {}
        self._tls = tls
        self._clock = clock
        self._swept = clock()
        self.closed = False

    async def exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        limit: int,
        *,
        party: str = "",
    ) -> WireAnswer:
        """Send one request and read its answer whole (to limit bytes of body).

        party: whose connections it may ride (a buyer's name). Connections are kept per
        party as well as per host: on a keep-alive connection a buyer can write an answer
        nobody asked for, which would be read as the next request's answer; a connection
        only ever carries one buyer's requests, so that answer can only be its own.

        Raises ConnectFailed (no connection), BrokenExchange (no answer), ValueError (a
        request that cannot be sent); the caller's deadline bounds it."""
        if self.closed:
            raise RuntimeError("the buyer connections are closed")
        target = self._targets.get(url)
        if target is None:
            target = _target(url)
            if len(self._targets) >= _URLS_KEPT:
                self._targets.clear()
            self._targets[url] = target
        data = request_bytes(method, target, headers, body)
        if self._turns is None:
            return await self._exchange(target, party, data, limit)
        async with self._turns:
            return await self._exchange(target, party, data, limit)

    async def _exchange(self, target: _Target, party: str, data: bytes, limit: int) -> WireAnswer:
        key = (*target.key, party)
        conn = self._reused(key) or await self._open(target)
        try:
            answered = conn.expect(limit)
            assert conn.transport is not None
            conn.transport.write(data)
            answer = await answered
        except BaseException:
            conn.abort()
            raise
        now = self._clock()
        if conn.reusable and not conn.closed and not self.closed:
            conn.idle_since = now
            self._idle.setdefault(key, []).append(conn)
        elif not conn.closed:
            conn.abort()
        if now - self._swept > KEEP_ALIVE_S:
            self._sweep(now)
        return answer

    def _sweep(self, now: float) -> None:
        """Close the idle connections past their keep-alive (those of buyers no longer
        asked anything too, which no request would reach)."""
        self._swept = now
        for key, idle in list(self._idle.items()):
            kept = []
            for conn in idle:
                if _stale(conn, now):
                    conn.abort()
                else:
                    kept.append(conn)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]

    def _reused(self, key: tuple[str, str, int, str]) -> _Connection | None:
        idle = self._idle.get(key)
        now = self._clock()
        while idle:
            conn = idle.pop()
            if not _stale(conn, now):
                return conn
            conn.abort()
        return None

    async def _open(self, target: _Target) -> _Connection:
        scheme, host, port = target.key
        loop = asyncio.get_running_loop()
        problems = []
        last: BaseException | None = None
        for family, address in await self._addresses(host, port):
            problem = address_problem(address, port, self.allow)
            if problem is not None:
                problems.append(problem)
                continue
            try:
                _, conn = await loop.create_connection(
                    _Connection,
                    address,
                    port,
                    family=family,
                    ssl=self._tls_context() if scheme == "https" else None,
                    server_hostname=target.tls_name,
                )
            except (OSError, ssl.SSLError) as exc:
                last = exc
                continue
            return conn
        if last is not None:
            raise ConnectFailed(last)
        raise ConnectFailed(OSError(errno.EACCES, f"refused: {problems[0]}"))

    async def _addresses(self, host: str, port: int) -> list[tuple[int, str]]:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, host)]
        now = self._clock()
        cached = self._dns.get((host, port))
        if cached is not None and now - cached[0] < DNS_TTL_S:
            return cached[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise ConnectFailed(exc) from exc
        found: list[tuple[int, str]] = []
        for family, _type, _proto, _name, sockaddr in infos:
            entry = (int(family), str(sockaddr[0]))
            if entry not in found:
                found.append(entry)
        if not found:
            raise ConnectFailed(OSError(errno.EHOSTUNREACH, f"{host} has no address"))
        self._dns[(host, port)] = (now, found)
        return found

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def close(self) -> None:
        """Close every idle connection; exchanges after this are refused."""
        self.closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()

    async def __aenter__(self) -> BuyerConnections:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
