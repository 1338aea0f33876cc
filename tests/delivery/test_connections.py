"""Buyer connections on the wire: real TCP servers on 127.0.0.1 that answer byte for byte
what a buyer (a careless or a hostile one) might send."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pingtree.delivery.connections import (
    KEEP_ALIVE_S,
    KEPT_OF_A_LARGE_ANSWER,
    MAX_HEAD_BYTES,
    BrokenExchange,
    BuyerConnections,
    ConnectFailed,
    WireAnswer,
)
from pingtree.delivery.destinations import Allowlist

LOCAL = Allowlist.parse("127.0.0.1")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Buyer"], Awaitable[None]]


@dataclass
class Buyer:
    """A scripted buyer: every connection it accepted, every request head it read."""

    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/leads?x=1"


async def read_request(reader: asyncio.StreamReader, buyer: Buyer) -> bytes:
    """One request: its head, and a body of its Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length) if length else b""
    buyer.requests.append(head + body)
    return head + body


@asynccontextmanager
async def buyer(script: Script, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Buyer]:
    state = Buyer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await script(reader, writer, state)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            state.closed.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()


def answering(*answers: bytes, close: bool = False) -> Script:
    """Answer each request with the next answer (the last one again when they run out)."""

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, b: Buyer) -> None:
        while True:
            await read_request(r, b)
            w.write(answers[min(len(b.requests), len(answers)) - 1])
            await w.drain()
            if close:
                return

    return script


async def ask(conns: BuyerConnections, url: str, limit: int = 1024 * 1024) -> WireAnswer:
    return await asyncio.wait_for(
        conns.exchange("POST", url, {"Content-Type": "application/json"}, b'{"a":1}', limit), 5
    )


async def test_an_answer_is_read_whole_and_its_connection_kept_for_the_next() -> None:
    async with buyer(answering(OK)) as b, BuyerConnections(LOCAL) as conns:
        first = await ask(conns, b.url)
        second = await ask(conns, b.url)
    assert (first.status, first.body, first.fault) == (200, b"{}", None)
    assert first.header("content-type") == "application/json"
    assert second.body == b"{}"
    assert b.connections == 1
    head, _, body = b.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /leads?x=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{b.port}".encode() in lines
    assert b"User-Agent: pingtree" in lines
    assert b"Content-Length: 7" in lines
    assert body == b'{"a":1}'


async def test_repeated_headers_are_kept_in_order() -> None:
    answer = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"
    async with buyer(answering(answer)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url)
    assert [v for k, v in got.headers if k == "Set-Cookie"] == ["a=1", "b=2"]


async def test_a_chunked_answer_is_joined() -> None:
    answer = (
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n'
    )
    async with buyer(answering(answer)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url)
        await ask(conns, b.url)
    assert (got.body, got.fault) == (b'{"a":1}', None)
    assert b.connections == 1


async def test_an_answer_read_to_the_close_is_whole_and_its_connection_not_reused() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\naccepted"
    async with buyer(answering(answer, close=True)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url)
        again = await ask(conns, b.url)
    assert (got.body, got.fault, again.body) == (b"accepted", None, b"accepted")
    assert b.connections == 2


async def test_connection_close_is_honoured() -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    async with buyer(answering(answer)) as b, BuyerConnections(LOCAL) as conns:
        await ask(conns, b.url)
        await ask(conns, b.url)
    assert b.connections == 2


async def test_an_answer_cut_short_is_incomplete_with_what_came() -> None:
    answer = b'HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{"accepted": tr'
    async with buyer(answering(answer, close=True)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url)
    assert got.fault == "answer_incomplete: connection closed after 15 bytes of 40"
    assert got.body == b'{"accepted": tr'


async def test_a_chunked_answer_cut_short_is_incomplete() -> None:
    answer = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{"accepte'
    async with buyer(answering(answer, close=True)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url)
    assert got.fault is not None and got.fault.startswith("answer_incomplete: connection closed")


async def test_a_declared_length_over_the_limit_is_too_large_unread() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    async with buyer(answering(answer)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url, limit=1000)
        await ask(conns, b.url, limit=10_000)
    assert got.fault == "answer_too_large: Content-Length 5000 is over the 1000-byte limit"
    assert got.body == b""
    assert b.connections == 2  # a connection with an answer left unread is not reused


async def test_an_undeclared_body_over_the_limit_is_too_large_and_kept_in_part() -> None:
    async def endless(r: asyncio.StreamReader, w: asyncio.StreamWriter, b: Buyer) -> None:
        await read_request(r, b)
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"y" * 4096
        for _ in range(64):
            w.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await w.drain()

    async with buyer(endless) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url, limit=10_000)
    assert got.fault == "answer_too_large: answer is over the 10000-byte limit"
    assert got.body == b"y" * KEPT_OF_A_LARGE_ANSWER


async def test_a_gzip_answer_is_inflated_and_a_bomb_is_too_large() -> None:
    small = gzip.compress(b'{"accepted": true}')
    bomb = gzip.compress(b"\0" * 5_000_000)
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(z), z)
        for z in (small, bomb)
    ]
    async with buyer(answering(*answers)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url)
        boom = await ask(conns, b.url, limit=100_000)
    assert (got.body, got.fault) == (b'{"accepted": true}', None)
    assert boom.fault == "answer_too_large: answer is over the 100000-byte limit"
    assert len(boom.body) == KEPT_OF_A_LARGE_ANSWER


async def test_a_body_that_does_not_inflate_is_incomplete() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello"
    async with buyer(answering(answer)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url)
    assert got.fault is not None and got.fault.startswith("answer_incomplete: cannot inflate")


async def test_an_endless_trailer_is_too_large_not_read_to_the_deadline() -> None:
    # Trailers come after the body, outside the head's and the body's limits: the parser
    # kept growing one header value (a copy of it all for each piece that came), so a buyer
    # writing one for as long as it was given held the lead's process's CPU all that time.
    async def trailing(r: asyncio.StreamReader, w: asyncio.StreamWriter, b: Buyer) -> None:
        await read_request(r, b)
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: ")
        while True:
            w.write(b"t" * 65536)
            await w.drain()

    async with buyer(trailing) as b, BuyerConnections(LOCAL) as conns:
        started = time.monotonic()
        got = await ask(conns, b.url, limit=100_000)
    assert got.fault is not None and got.fault.startswith("answer_too_large:"), got.fault
    assert got.body == b"{}"
    assert time.monotonic() - started < 2


async def test_a_chunked_answer_with_trailers_is_read_whole() -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Check\r\n\r\n"
        b"2\r\n{}\r\n0\r\nX-Check: 1\r\n\r\n"
    )
    async with buyer(answering(answer)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url)
    assert (got.status, got.body, got.fault) == (200, b"{}", None)


async def test_an_interim_answer_is_skipped() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
    async with buyer(answering(answer)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url)
    assert (got.status, got.body) == (200, b"{}")
    assert ("Content-Type", "application/json") in got.headers


async def test_a_redirect_is_an_answer_not_followed() -> None:
    answer = b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n"
    async with buyer(answering(answer)) as b, BuyerConnections(LOCAL) as conns:
        got = await ask(conns, b.url)
    assert (got.status, got.header("location")) == (302, "http://169.254.169.254/")
    assert len(b.requests) == 1


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        (b"", "the buyer closed the connection before an answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "before an answer after 27 bytes of its head"),
        (b"<html><body>Bad gateway</body></html>\r\n\r\n", "not an HTTP answer"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * MAX_HEAD_BYTES + b"\r\n", "head is over"),
    ],
)
async def test_no_answer_is_a_broken_exchange(sent: bytes, why: str) -> None:
    async with buyer(answering(sent, close=True)) as b, BuyerConnections(LOCAL) as conns:
        with pytest.raises(BrokenExchange, match=why):
            await ask(conns, b.url)


async def test_too_many_headers_is_a_broken_exchange() -> None:
    answer = b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 300 + b"Content-Length: 0\r\n\r\n"
    async with buyer(answering(answer)) as b, BuyerConnections(LOCAL) as conns:
        with pytest.raises(BrokenExchange, match="over 256 headers"):
            await ask(conns, b.url)


@pytest.mark.parametrize(
    "headers",
    [{"X-Lead": "a\r\nX-Injected: 1"}, {"X-Lead": "a\nb"}, {"X Bad": "1"}, {"X-Nul": "\0"}],
)
async def test_a_header_that_could_split_the_request_is_refused_unsent(
    headers: dict[str, str],
) -> None:
    async with buyer(answering(OK)) as b, BuyerConnections(LOCAL) as conns:
        with pytest.raises(ValueError):
            await conns.exchange("POST", b.url, headers, b"{}", 1000)
    assert b.requests == []


async def test_a_connection_the_buyer_closed_while_idle_is_not_reused() -> None:
    async with buyer(answering(OK, close=True)) as b, BuyerConnections(LOCAL) as conns:
        await ask(conns, b.url)  # keep-alive by its headers, but the buyer hangs up after
        await asyncio.wait_for(b.closed.wait(), 5)
        async with asyncio.timeout(5):  # until the client has seen the buyer hang up
            while not all(c.closed for idle in conns._idle.values() for c in idle):
                await asyncio.sleep(0.01)
        again = await ask(conns, b.url)
    assert again.body == b"{}"
    assert b.connections == 2


async def test_a_connection_that_sent_something_while_idle_is_not_reused() -> None:
    async def chatty(r: asyncio.StreamReader, w: asyncio.StreamWriter, b: Buyer) -> None:
        await read_request(r, b)
        w.write(OK + b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
        await w.drain()
        while True:
            await read_request(r, b)
            w.write(OK)

    async with buyer(chatty) as b, BuyerConnections(LOCAL) as conns:
        first = await ask(conns, b.url)
        second = await ask(conns, b.url)
    assert (first.status, second.status) == (200, 200)
    assert b.connections == 2


async def test_an_idle_connection_past_its_keep_alive_is_not_reused() -> None:
    now = [100.0]
    async with (
        buyer(answering(OK)) as b,
        BuyerConnections(LOCAL, clock=lambda: now[0]) as conns,
    ):
        await ask(conns, b.url)
        now[0] += KEEP_ALIVE_S - 1
        await ask(conns, b.url)
        now[0] += KEEP_ALIVE_S + 1
        await ask(conns, b.url)
    assert b.connections == 2


async def test_a_cancelled_exchange_closes_its_connection() -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, b: Buyer) -> None:
        await read_request(r, b)
        await r.read()  # until the client hangs up

    async with buyer(silent) as b, BuyerConnections(LOCAL) as conns:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await conns.exchange("POST", b.url, {}, b"{}", 1000)
        await asyncio.wait_for(b.closed.wait(), 5)


async def test_loopback_is_refused_unless_allowed_by_address() -> None:
    async with buyer(answering(OK)) as b:
        async with BuyerConnections(Allowlist()) as strict:
            with pytest.raises(ConnectFailed, match=r"refused: 127\.0\.0\.1:\d+ is a loopback"):
                await ask(strict, b.url)
        # a name entry lets the name pass; the address it resolves to is still checked
        async with BuyerConnections(Allowlist.parse("localhost")) as by_name:
            with pytest.raises(ConnectFailed, match=r"refused: .* loopback"):
                await ask(by_name, f"http://localhost:{b.port}/")
        async with BuyerConnections(Allowlist.parse(f"127.0.0.1:{b.port + 1}")) as other_port:
            with pytest.raises(ConnectFailed, match="refused"):
                await ask(other_port, b.url)
    assert b.connections == 0


async def test_a_refused_connection_is_a_connect_failure() -> None:
    async with buyer(answering(OK)) as b:
        port = b.port
    async with BuyerConnections(LOCAL) as conns:
        with pytest.raises(ConnectFailed) as failed:
            await ask(conns, f"http://127.0.0.1:{port}/")
    assert isinstance(failed.value.os_error, OSError)


async def test_closed_connections_take_no_more_requests() -> None:
    conns = BuyerConnections(LOCAL)
    await conns.close()
    with pytest.raises(RuntimeError):
        await ask(conns, "http://127.0.0.1:9/")


# --- TLS ------------------------------------------------------------------------------------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_checks_the_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    async with buyer(answering(OK), ssl_context=server_side) as b:
        url = f"https://127.0.0.1:{b.port}/leads"
        async with BuyerConnections(LOCAL) as untrusting:
            with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await ask(untrusting, url)
        trusting = ssl.create_default_context(cafile=str(cert))
        async with BuyerConnections(LOCAL, tls=trusting) as conns:
            first = await ask(conns, url)
            second = await ask(conns, url)
    assert (first.status, first.body, second.body) == (200, b"{}", b"{}")
    assert f"Host: 127.0.0.1:{b.port}".encode() in b.requests[-1]


async def test_the_requests_own_headers_win_and_framing_stays_the_clients() -> None:
    headers = {
        "Host": "buyer.example",
        "User-Agent": "acme-feed/2",
        "Content-Length": "999",
        "Transfer-Encoding": "chunked",
        "X-Api-Key": "k",
    }
    async with buyer(answering(OK)) as b, BuyerConnections(LOCAL) as conns:
        await conns.exchange("post", b.url, headers, b"{}", 1000)
    lines = b.requests[0].partition(b"\r\n\r\n")[0].split(b"\r\n")
    assert lines[0] == b"POST /leads?x=1 HTTP/1.1"
    assert sorted(lines[1:]) == sorted(
        [
            b"Host: buyer.example",
            b"User-Agent: acme-feed/2",
            b"Accept: */*",
            b"X-Api-Key: k",
            b"Content-Length: 2",
        ]
    )


async def test_a_url_is_sent_percent_encoded() -> None:
    async with buyer(answering(OK)) as b, BuyerConnections(LOCAL) as conns:
        url = f"http://127.0.0.1:{b.port}/leads/new lead/ü?src=a b&name=Zoë&keep=%2F"
        await conns.exchange("GET", url, {}, b"", 1000)
    line = b.requests[0].split(b"\r\n")[0]
    assert line == b"GET /leads/new%20lead/%C3%BC?src=a%20b&name=Zo%C3%AB&keep=%2F HTTP/1.1"
    assert b"Content-Length" not in b.requests[0]


async def test_idle_connections_to_a_buyer_no_longer_asked_are_closed() -> None:
    now = [100.0]
    async with (
        buyer(answering(OK)) as quiet,
        buyer(answering(OK)) as busy,
        BuyerConnections(LOCAL, clock=lambda: now[0]) as conns,
    ):
        await ask(conns, quiet.url)
        now[0] += KEEP_ALIVE_S + 1
        await ask(conns, busy.url)  # the next request past a keep-alive sweeps the pool
        await asyncio.wait_for(quiet.closed.wait(), 5)
        assert not busy.closed.is_set()


async def test_a_connection_carries_one_partys_requests_only() -> None:
    async with buyer(answering(OK)) as b, BuyerConnections(LOCAL) as conns:
        for party in ("acme", "zenith", "acme", "zenith", "acme"):
            await conns.exchange("POST", b.url, {}, b"{}", 1000, party=party)
    assert b.connections == 2  # one for each buyer on the shared host, each reused


async def test_an_answer_nobody_asked_for_never_reaches_another_buyer() -> None:
    """A buyer on a shared host answers, then writes a second answer (a bid of 999) a moment
    later: whichever request rides that connection next reads it. Only its own can."""
    forged = b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"bid": 999}'

    async def smuggler(r: asyncio.StreamReader, w: asyncio.StreamWriter, b: Buyer) -> None:
        while True:
            request = await read_request(r, b)
            if b"X-Buyer: forger" in request:
                w.write(OK)
                await w.drain()
                await asyncio.sleep(0.02)  # the client has the connection back by now
                w.write(forged)
            else:
                w.write(b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"bid": 5}')
            await w.drain()

    async with buyer(smuggler) as b, BuyerConnections(LOCAL) as conns:

        async def ping(name: str) -> WireAnswer:
            return await conns.exchange("POST", b.url, {"X-Buyer": name}, b"{}", 1000, party=name)

        await ping("forger")
        await asyncio.sleep(0.005)
        honest = [await ping("honest") for _ in range(3)]
        await asyncio.sleep(0.05)
        honest += [await ping("honest") for _ in range(3)]
    assert [a.body for a in honest] == [b'{"bid": 5}'] * 6
