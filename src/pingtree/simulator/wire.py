"""How a simulated buyer puts its answer on the wire: whole, in pieces, chunked, cut short,
as a redirect, or as raw scripted bytes."""

from __future__ import annotations

import asyncio

from aiohttp import web

from pingtree.simulator.behaviour import ScriptedAnswer, SimBuyer


def split(body: bytes, pieces: int) -> list[bytes]:
    """The body in at most `pieces` non-empty parts, in order."""
    if pieces <= 1 or len(body) <= 1:
        return [body]
    size = -(-len(body) // pieces)
    return [body[i : i + size] for i in range(0, len(body), size)]


async def send(
    request: web.Request, behaviour: SimBuyer, body: bytes, content_type: str
) -> web.StreamResponse:
    """Write an answer body as the buyer's behaviour says."""
    plain = behaviour.answer_pieces == 1 and not behaviour.chunked and not behaviour.short_by_bytes
    if plain:
        return web.Response(
            body=body, status=behaviour.answer_status, content_type=content_type, charset="utf-8"
        )
    response = web.StreamResponse(
        status=behaviour.answer_status,
        headers={"Content-Type": f"{content_type}; charset=utf-8"},
    )
    if behaviour.chunked:
        response.enable_chunked_encoding()
    else:
        response.content_length = len(body)
    await response.prepare(request)
    cut = len(body) - min(behaviour.short_by_bytes, len(body))
    parts = split(body[:cut], behaviour.answer_pieces)
    for i, part in enumerate(parts):
        if i and behaviour.piece_delay_ms:
            await asyncio.sleep(behaviour.piece_delay_ms / 1000)
        if part:
            await response.write(part)
    if behaviour.short_by_bytes:
        # Fewer bytes than promised, then the connection goes: what a crashed buyer leaves.
        _close(request)
        return response
    await response.write_eof()
    return response


def redirect(behaviour: SimBuyer) -> web.Response:
    """A 3xx pointing somewhere else, as a buyer moving its endpoint answers."""
    assert behaviour.redirect_status is not None and behaviour.redirect_location is not None
    return web.Response(
        status=behaviour.redirect_status,
        headers={"Location": behaviour.redirect_location},
        text="moved",
    )


def raw(script: ScriptedAnswer, *, close: bool = True) -> bytes:
    """The scripted answer as bytes: status line, headers, blank line, body (with
    `Connection: close` unless its headers say otherwise or close is False)."""
    lines = [f"HTTP/1.1 {script.status} {script.reason}".encode("utf-8", "surrogateescape")]
    names = {name.lower() for name, _ in script.headers}
    headers = list(script.headers)
    if script.content_length and "content-length" not in names:
        headers.append(("Content-Length", str(len(script.body))))
    if close and "connection" not in names:
        headers.append(("Connection", "close"))
    for name, value in headers:
        lines.append(f"{name}: {value}".encode("utf-8", "surrogateescape"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + script.body


async def write_raw(request: web.Request, script: ScriptedAnswer) -> web.StreamResponse:
    """Write the scripted bytes straight to the socket and close it."""
    transport = request.transport
    if transport is not None and not transport.is_closing():
        transport.write(raw(script))
    _close(request)
    # The connection is closed by now, so nothing of this response is ever sent.
    return web.Response(status=204)


async def smuggle(
    request: web.Request, response: web.StreamResponse, script: ScriptedAnswer, delay_ms: float
) -> None:
    """Send the answer now, then the scripted bytes on the same connection after delay_ms
    (in the background): an answer to no request, which a client that reuses the connection
    for another request would take for that request's answer."""
    if not response.prepared:
        await response.prepare(request)
        await response.write_eof()
    transport = request.transport
    if transport is None:
        return
    data = raw(script, close=False)

    async def later() -> None:
        await asyncio.sleep(delay_ms / 1000)
        if not transport.is_closing():
            transport.write(data)

    task = asyncio.get_running_loop().create_task(later())
    _smuggling.add(task)
    task.add_done_callback(_smuggling.discard)


_smuggling: set[asyncio.Task[None]] = set()
"""Smuggled answers on their way (kept referenced until written)."""


def _close(request: web.Request) -> None:
    if request.transport is not None:
        # close(), unlike abort(), sends what is buffered first.
        request.transport.close()
