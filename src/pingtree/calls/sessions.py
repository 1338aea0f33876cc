"""A live call's conversation between the provider's webhooks and its routing.

The provider asks what to do next one webhook at a time; the call's routing runs as one
task that, at each dial, hands the webhook the Dial to answer and waits for the dial's
outcome (the Dial's action webhook). Sessions live in the process that routes the call:
a deployment with several processes routes a call's webhooks to one of them (sticky by
CallSid; docs/production.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Dialed:
    """What the provider reported of one dial (Twilio's DialCallStatus and its duration)."""

    status: str
    """completed (or answered), busy, no-answer, failed or canceled"""
    connected_s: int = 0
    caller_left: bool = False
    """The caller hung up during or after the dial (the call is over)."""

    @property
    def answered(self) -> bool:
        return self.status in ("completed", "answered") and self.connected_s > 0


@dataclass
class BidTerms:
    """What a buyer's call ping answered beyond its price: where to dial, for how long it
    holds, the duration it pays after."""

    dial: str | None = None
    expires_at: datetime | None = None
    min_duration_s: int | None = None
    price: Decimal | None = None


@dataclass
class CallSession:
    """One live call in this process."""

    call_id: str
    caller: str
    tracking_number: str
    lead_id: str | None = None
    left: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the caller hangs up: routing offers the call to nobody else."""
    bids: dict[str, BidTerms] = field(default_factory=dict)
    """Per campaign, the terms its ping answered."""
    connected: str | None = None
    """The campaign the call was put through to (answered), if any."""
    connected_s: int | None = None
    vertical: str | None = None
    caller_field: str = "phone"
    """The vertical field the caller's number fills (a ping that carries it names it so)."""
    held: bool = False
    """The caller heard the hold message already."""
    finished: bool = False
    """The routing is over: its last step is queued."""
    routing: asyncio.Task[None] | None = None
    _steps: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    _dialing: asyncio.Future[Dialed] | None = None

    def instruct(self, twiml: str) -> None:
        """The next call control for the provider (the next webhook answers it)."""
        self._steps.put_nowait(twiml)

    def finish(self, twiml: str) -> None:
        """The call's last step: after it, the session is closed."""
        self.finished = True
        self.instruct(twiml)

    @property
    def steps_left(self) -> int:
        return self._steps.qsize()

    async def next_step(self, wait_s: float) -> str | None:
        """The next call control, or None when there is none within wait_s (hold on)."""
        try:
            return await asyncio.wait_for(self._steps.get(), wait_s)
        except TimeoutError:
            return None

    async def dial(self, twiml: str, *, longest_s: float) -> Dialed:
        """Hand the provider a Dial and wait for its outcome (the whole ring and talk)."""
        if self.left.is_set():
            return Dialed("canceled", caller_left=True)
        self._dialing = asyncio.get_running_loop().create_future()
        self.instruct(twiml)
        try:
            return await asyncio.wait_for(asyncio.shield(self._dialing), longest_s)
        except TimeoutError:
            return Dialed("failed")
        finally:
            self._dialing = None

    def dialed(self, outcome: Dialed) -> bool:
        """The Dial's action webhook arrived: True when a dial was waiting for it."""
        if self._dialing is None or self._dialing.done():
            return False
        self._dialing.set_result(outcome)
        return True

    def hung_up(self) -> None:
        """The caller is gone (a final status callback): nothing more is dialed."""
        self.left.set()
        self.dialed(Dialed("canceled", caller_left=True))


class Sessions:
    """The live calls this process routes, by call id."""

    def __init__(self) -> None:
        self._live: dict[str, CallSession] = {}
        self._by_lead: dict[str, CallSession] = {}

    def __len__(self) -> int:
        return len(self._live)

    def get(self, call_id: str) -> CallSession | None:
        return self._live.get(call_id)

    def open(self, session: CallSession) -> CallSession:
        """Keep a call's session; one that is open already is kept as it is."""
        return self._live.setdefault(session.call_id, session)

    def bind(self, session: CallSession, lead_id: str) -> None:
        """The call became this lead (the gateway finds its call by the lead's id)."""
        session.lead_id = lead_id
        self._by_lead[lead_id] = session

    def close(self, call_id: str) -> None:
        session = self._live.pop(call_id, None)
        if session is not None and session.lead_id is not None:
            self._by_lead.pop(session.lead_id, None)

    def by_lead(self, lead_id: str) -> CallSession | None:
        """The live call whose lead this is."""
        return self._by_lead.get(lead_id)
