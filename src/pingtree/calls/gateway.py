"""The routing core's BuyerGateway for calls: pings as for leads, and the post is a dial.

A ping goes out over HTTP like a lead's (with the caller's number when the campaign asks
for it); what the answer captured (the number to dial, the bid's expiry, the minimum
duration) is kept with the call. The "post" checks that the buyer can take the call now
(its availability answer, a free line), hands the provider a Dial and waits for how it
went: answered for the minimum duration is a sale (a converted call); shorter, busy, not
answered or failed is not, and the call cascades on while the caller is on the line.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp

from pingtree.buyers.calls import CallTerms, dial_target_problem
from pingtree.buyers.model import Campaign, Outcome
from pingtree.calls import control
from pingtree.calls.lines import CallLines
from pingtree.calls.sessions import BidTerms, CallSession, Sessions
from pingtree.clock import Clock
from pingtree.routing.model import ConsentReference, Reading
from pingtree.routing.ports import Answer, Bid, BuyerGateway

log = logging.getLogger("pingtree.calls")

AVAILABILITY_MAX_BYTES = 4096
"""An availability answer is a few bytes of JSON; more is refused unread."""
LONGEST_CALL_S = 4 * 3600.0
"""A dial whose outcome never arrives is given up after this long (the call is over)."""


class CallGateway:
    """Pings through the lead gateway; dials through the call's session."""

    def __init__(
        self,
        pings: BuyerGateway,
        sessions: Sessions,
        lines: CallLines,
        clock: Clock,
        http: aiohttp.ClientSession,
    ) -> None:
        self.pings = pings
        self.sessions = sessions
        self.lines = lines
        self.clock = clock
        self.http = http

    async def ping(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        fields: dict[str, Any],
        test: bool,
        timeout: float,
    ) -> Answer:
        session = self.sessions.by_lead(lead_id)
        terms = campaign.call
        if session is not None and terms is not None and terms.ping_with_number:
            fields = {**fields, session.caller_field: session.caller}
        answer = await self.pings.ping(
            campaign, lead_id=lead_id, fields=fields, test=test, timeout=timeout
        )
        if session is not None and answer.reading.outcome is Outcome.ACCEPTED:
            session.bids[campaign.name] = self._bid_terms(answer.reading)
        return answer

    def _bid_terms(self, reading: Reading) -> BidTerms:
        captured = reading.captured
        expires = _whole(captured.get("expires_s"))
        return BidTerms(
            dial=captured.get("dial") or None,
            expires_at=self.clock.now() + timedelta(seconds=expires) if expires else None,
            min_duration_s=_whole(captured.get("min_duration_s")),
            price=reading.price,
        )

    async def post(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        fields: dict[str, Any],
        bid: Bid | None,
        test: bool,
        timeout: float,
        consent: ConsentReference | None = None,
    ) -> Answer:
        """Dial the buyer; a sale when the call lasts the buyer's minimum duration."""
        started = self.clock.monotonic()
        session = self.sessions.by_lead(lead_id)
        terms = campaign.call
        if session is None or terms is None:
            why = "this campaign buys no calls" if terms is None else "the call is over"
            return _answer(Outcome.ERROR, why, started, self.clock)
        bid_terms = session.bids.get(campaign.name, BidTerms())
        target = bid_terms.dial or terms.dial
        request: dict[str, Any] = {"dial": target, "call": session.call_id}
        if target is None or dial_target_problem(target) is not None:
            why = "no number to dial" if target is None else f"bad dial target {target!r}"
            return _answer(Outcome.ERROR, why, started, self.clock, request)
        if bid_terms.expires_at is not None and self.clock.now() > bid_terms.expires_at:
            return _answer(Outcome.REJECTED, "the bid expired", started, self.clock, request)
        busy = await self._busy(campaign, terms, session, lead_id)
        if busy is not None:
            return _answer(Outcome.REJECTED, f"busy: {busy}", started, self.clock, request)
        ring_s = max(1, min(terms.ring_s, int(timeout)))  # the time left of the call's tree
        request["ring_s"] = ring_s
        try:
            dialed = await session.dial(
                control.dial(
                    target,
                    action=control.URLS.dialed(session.call_id, campaign.name),
                    ring_s=ring_s,
                    caller_id=session.caller,  # the winner gets the number by the dial
                ),
                longest_s=LONGEST_CALL_S,
            )
        finally:
            if terms.concurrency is not None:
                await self.lines.give_back(session.call_id)
        minimum = terms.min_duration_s
        if bid_terms.min_duration_s is not None:  # the buyer's bid names its own
            minimum = bid_terms.min_duration_s
        response = {
            "dial_status": dialed.status,
            "connected_s": dialed.connected_s,
            "min_duration_s": minimum,
        }
        if dialed.answered:
            session.connected, session.connected_s = campaign.name, dialed.connected_s
            if dialed.connected_s >= minimum:
                reading = Reading(Outcome.ACCEPTED)  # at the bid (or the fixed price)
                return _answer_with(reading, started, self.clock, request, response)
            why = f"not converted: connected {dialed.connected_s} s of {minimum} s"
            return _answer(Outcome.REJECTED, why, started, self.clock, request, response)
        outcome, why = _NOT_ANSWERED.get(dialed.status, (Outcome.ERROR, dialed.status))
        return _answer(outcome, why, started, self.clock, request, response)

    async def _busy(
        self, campaign: Campaign, terms: CallTerms, session: CallSession, lead_id: str
    ) -> str | None:
        """Why the buyer cannot take the call now, if it cannot: no agent free."""
        if terms.availability_url is not None:
            why = await self.unavailable(terms, campaign, lead_id)
            if why is not None:
                return why
        if terms.concurrency is not None:
            taken = await self.lines.take(
                campaign.name, call_id=session.call_id, limit=terms.concurrency
            )
            if not taken:
                return f"{terms.concurrency} of {terms.concurrency} lines live"
        return None

    async def unavailable(self, terms: CallTerms, campaign: Campaign, lead_id: str) -> str | None:
        """Ask the buyer whether an agent is free; anything but a clear yes is a no."""
        assert terms.availability_url is not None
        timeout = aiohttp.ClientTimeout(total=terms.availability_timeout_ms / 1000)
        try:
            async with self.http.post(
                terms.availability_url,
                json={"campaign": campaign.name, "lead_id": lead_id},
                timeout=timeout,
                allow_redirects=False,
            ) as answer:
                if answer.status != 200:
                    return f"availability answered HTTP {answer.status}"
                raw = bytearray()
                while len(raw) <= AVAILABILITY_MAX_BYTES:  # read whole, to a bound
                    piece = await answer.content.read(AVAILABILITY_MAX_BYTES + 1 - len(raw))
                    if not piece:
                        break
                    raw += piece
                if len(raw) > AVAILABILITY_MAX_BYTES:
                    return "availability answered too much"
                body = json.loads(bytes(raw))
        except TimeoutError:
            return "availability did not answer in time"
        except (aiohttp.ClientError, ValueError, OSError) as exc:
            return f"availability failed: {type(exc).__name__}"
        if isinstance(body, dict) and body.get("available") is True:
            return None
        reason = body.get("reason") if isinstance(body, dict) else None
        return f"no agent available ({reason})" if reason else "no agent available"


_NOT_ANSWERED: dict[str, tuple[Outcome, str]] = {
    "busy": (Outcome.REJECTED, "busy"),
    "no-answer": (Outcome.TIMEOUT, "not answered"),
    "failed": (Outcome.ERROR, "the dial failed"),
    "canceled": (Outcome.REJECTED, "the caller hung up"),
    "completed": (Outcome.REJECTED, "not answered"),
    "answered": (Outcome.REJECTED, "not answered"),
}


def _whole(text: str | None) -> int | None:
    """Whole seconds a bid states, up to LONGEST_CALL_S; None when it states none a call could
    use: an expiry no timedelta holds, a minimum no call lasts (the buyer would take the
    caller and never pay), or "1e9999999", which would hold the process for minutes as an int.
    """
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return int(value) if value.is_finite() and 0 <= value <= LONGEST_CALL_S else None


def _answer(
    outcome: Outcome,
    reason: str,
    started: float,
    clock: Clock,
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
) -> Answer:
    return _answer_with(Reading(outcome, reason=reason), started, clock, request, response)


def _answer_with(
    reading: Reading,
    started: float,
    clock: Clock,
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
) -> Answer:
    duration = (clock.monotonic() - started) * 1000
    return Answer(reading, duration_ms=duration, request=request or {}, response=response or {})
