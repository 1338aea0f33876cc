"""The HTTP side: every simulated buyer's ping, post and inspection endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from decimal import Decimal

from aiohttp import hdrs, web

from pingtree.delivery.signing import SignatureError, verify
from pingtree.money import cents
from pingtree.simulator import wire
from pingtree.simulator.bodies import Answer, BodyError, parse_body, render
from pingtree.simulator.decisions import Decision, Fault
from pingtree.simulator.state import BuyerRegistry, BuyerState, ReceivedRequest, RequestKind

REGISTRY = web.AppKey("registry", BuyerRegistry)
CLOSING = web.AppKey("closing", asyncio.Event)

GARBAGE_PAGE = "<html><body>Internal error</body></html>"
BID_ID_HEADER = "X-Bid-Id"
ECHO_HEADER = "X-Echo"
HANG_POLL_S = 0.2


def create_app(registry: BuyerRegistry) -> web.Application:
    """Build the aiohttp application serving every buyer in the registry."""
    app = web.Application()
    app[REGISTRY] = registry
    app[CLOSING] = asyncio.Event()
    app.on_shutdown.append(_release_hangs)
    app.router.add_get("/health", _health)
    app.router.add_post("/buyers/{name}/ping", _ping)
    app.router.add_post("/buyers/{name}/post", _post)
    app.router.add_post("/buyers/{name}/available", _available)
    app.router.add_get("/buyers/{name}/available", _available)
    app.router.add_get("/buyers/{name}/received", _list_received)
    app.router.add_delete("/buyers/{name}/received", _clear_received)
    return app


async def _release_hangs(app: web.Application) -> None:
    # Hanging handlers wait for this; without it, shutdown would sit out its whole timeout.
    app[CLOSING].set()


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "buyers": request.app[REGISTRY].names()})


async def _list_received(request: web.Request) -> web.Response:
    name, state = _buyer(request)
    records = [r.to_json() for r in state.received]
    return web.json_response({"buyer": name, "count": len(records), "requests": records})


async def _clear_received(request: web.Request) -> web.Response:
    _, state = _buyer(request)
    cleared = len(state.received)
    state.received.clear()
    return web.json_response({"status": "ok", "cleared": cleared})


async def _ping(request: web.Request) -> web.StreamResponse:
    return await _handle(request, "ping")


async def _post(request: web.Request) -> web.StreamResponse:
    return await _handle(request, "post")


async def _handle(request: web.Request, kind: RequestKind) -> web.StreamResponse:
    _, state = _buyer(request)
    record, refusal = await _receive(request, state, kind)
    if refusal is not None:
        return refusal
    behaviour = state.behaviour
    # Everything random is drawn before the first await, so the n-th arrival always gets
    # the n-th decision; the outcome is settled now and only delivered after the latency.
    decision = state.decide()
    payload: Answer | None = None
    if decision.fault is None:
        if kind == "ping":
            payload = _ping_payload(state, decision)
        else:
            payload = _post_payload(state, record, decision)
    record.outcome = decision.fault if payload is None else str(payload["status"])
    if behaviour.scripted is not None:
        record.outcome = "scripted"
    elif behaviour.redirect_status is not None:
        record.outcome = "redirect"
    echoed = record.header(behaviour.echo_header) if behaviour.echo_header else None
    if payload is not None and echoed is not None:
        payload["echo"] = echoed  # a careless buyer repeating a credential it was sent
    if decision.latency_s > 0:
        await asyncio.sleep(decision.latency_s)
    if behaviour.scripted is not None:
        record.http_status = behaviour.scripted.status
        return await wire.write_raw(request, behaviour.scripted)
    if behaviour.redirect_status is not None:
        record.http_status = behaviour.redirect_status
        return wire.redirect(behaviour)
    response = await _respond(request, state, decision.fault, payload)
    if echoed is not None and not response.prepared:
        response.headers[ECHO_HEADER] = echoed
    if decision.fault != "hang":
        record.http_status = response.status
    if behaviour.smuggled is not None and decision.fault != "hang":
        await wire.smuggle(request, response, behaviour.smuggled, behaviour.smuggle_delay_ms)
    return response


async def _receive(
    request: web.Request, state: BuyerState, kind: RequestKind
) -> tuple[ReceivedRequest, web.Response | None]:
    """Record a request, check its signature and parse its body; the refusal, if any."""
    raw = await request.read()
    record = ReceivedRequest(
        kind=kind,
        received_at=request.app[REGISTRY].clock.now(),
        headers=_headers(request),
        body=None,
        raw_body=_lenient_text(raw, request.charset),
        path=request.path_qs,
    )
    state.received.append(record)
    behaviour = state.behaviour
    if behaviour.signing_secret is not None:
        try:
            verify(
                behaviour.signing_secret,
                raw,
                request.headers.get(behaviour.signing_header),
                request.app[REGISTRY].clock.now(),
                behaviour.signing_tolerance_s,
            )
        except SignatureError as exc:
            record.outcome, record.http_status, record.error = "bad_signature", 401, str(exc)
            return record, web.json_response({"status": "error", "error": str(exc)}, status=401)
    try:
        record.body = parse_body(request.headers.get(hdrs.CONTENT_TYPE), raw, request.charset)
    except BodyError as exc:
        record.outcome, record.http_status, record.error = "bad_request", 400, str(exc)
        return record, web.json_response({"status": "error", "error": str(exc)}, status=400)
    return record, None


async def _available(request: web.Request) -> web.StreamResponse:
    """Whether the buyer can take a call now: the availability ping before a dial.

    It answers at once and whole: latency, faults and the answer-shaping fields are for
    bids and posts.
    """
    _, state = _buyer(request)
    record, refusal = await _receive(request, state, "available")
    if refusal is not None:
        return refusal
    available = state.is_available()
    payload: Answer = {"available": available}
    if not available:
        payload["reason"] = state.behaviour.unavailable_reason
    record.outcome = "available" if available else "unavailable"
    body, content_type = render(payload, state.behaviour.respond_as)
    record.http_status = 200
    return web.Response(text=body, content_type=content_type, charset="utf-8")


def _ping_payload(state: BuyerState, decision: Decision) -> Answer:
    if decision.bid is None:
        return {"status": "no_bid", "reason": decision.no_bid_reason or "no bid"}
    bid_id = state.issue_bid(decision.bid)
    behaviour = state.behaviour
    price = behaviour.ping_price or str(cents(decision.bid))
    payload: Answer = {"status": "bid", "bid_id": bid_id, "price": price}
    # What a call buyer's bid carries besides the price: where to send the call, how long
    # it must last to be paid, and how long the bid holds.
    if behaviour.dial is not None:
        payload["dial"] = behaviour.dial
    if behaviour.min_duration_s is not None:
        payload["min_duration_s"] = behaviour.min_duration_s
    if behaviour.bid_expires_s is not None:
        payload["expires_s"] = behaviour.bid_expires_s
    payload.update(behaviour.bid_fields)
    return payload


def _post_payload(state: BuyerState, record: ReceivedRequest, decision: Decision) -> Answer:
    price: Decimal = decision.price
    bid_id = _bid_id(record)
    if bid_id is not None:
        bid_price = state.bid_price(bid_id)
        if bid_price is None:
            return {"status": "rejected", "reason": "unknown bid"}
        price = bid_price
    if decision.duplicate:
        return {"status": "duplicate", "reason": "already have this lead"}
    if not decision.accepted:
        return {"status": "rejected", "reason": "lead does not meet buyer criteria"}
    stated = state.behaviour.post_price or str(cents(price))
    payload: Answer = {"status": "accepted", "lead_id": str(uuid.uuid4()), "price": stated}
    if state.behaviour.redirect_url is not None:
        payload["redirect_url"] = state.behaviour.redirect_url
    if state.behaviour.dial is not None:
        payload["dial"] = state.behaviour.dial
    return payload


def _bid_id(record: ReceivedRequest) -> str | None:
    if isinstance(record.body, dict):
        value = record.body.get("bid_id")
        if isinstance(value, str | int) and str(value):
            return str(value)
    return record.header(BID_ID_HEADER) or None


async def _respond(
    request: web.Request, state: BuyerState, fault: Fault | None, payload: Answer | None
) -> web.StreamResponse:
    if fault == "hang":
        await _hang(request)
        # The connection is closed by now, so nobody ever reads this answer.
        return web.Response(status=503)
    if fault == "error":
        return web.json_response(
            {"status": "error", "error": "simulated buyer failure"}, status=500
        )
    if fault == "garbage":
        return web.Response(text=GARBAGE_PAGE, content_type="text/html")
    assert payload is not None
    behaviour = state.behaviour
    if behaviour.answer_padding_bytes:
        payload = {**payload, "padding": "x" * behaviour.answer_padding_bytes}
    body, content_type = render(payload, behaviour.respond_as)
    return await wire.send(request, behaviour, body.encode(), content_type)


async def _hang(request: web.Request) -> None:
    """Never answer: wait until the client goes away or the simulator shuts down."""
    closing = request.app[CLOSING]
    while not closing.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        # Polling as well as waiting: an app run without handler_cancellation is not told
        # when the client leaves, and a hang must not outlive its client.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), HANG_POLL_S)
    if request.transport is not None:
        request.transport.close()


def _buyer(request: web.Request) -> tuple[str, BuyerState]:
    name = request.match_info["name"]
    state = request.app[REGISTRY].get(name)
    if state is None:
        raise web.HTTPNotFound(
            text=json.dumps({"status": "error", "error": f"unknown buyer {name!r}"}),
            content_type="application/json",
        )
    return name, state


def _lenient_text(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _headers(request: web.Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in request.headers.items():
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out
