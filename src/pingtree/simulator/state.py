"""What the simulator remembers per buyer: behaviour, random stream, issued bids, requests."""

from __future__ import annotations

import random
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pingtree.clock import Clock, SystemClock
from pingtree.simulator.behaviour import SimBuyer, SimulatorConfig
from pingtree.simulator.decisions import Decision, decide

RequestKind = Literal["ping", "post", "available"]

# A bid is only worth remembering until its post arrives; cap it so long benchmarks stay flat.
MAX_OPEN_BIDS = 100_000


@dataclass(slots=True)
class ReceivedRequest:
    """One ping, post or availability check as the buyer received it, and how it answered."""

    kind: RequestKind
    received_at: datetime
    headers: dict[str, str]
    body: Any
    """The parsed body: a dict for form and XML, any JSON value for JSON, None when empty."""
    raw_body: str
    outcome: str | None = None
    """The answer decided: bid, no_bid, accepted, rejected, duplicate, error, hang, garbage,
    bad_request or bad_signature; available or unavailable for availability checks."""
    http_status: int | None = None
    """The HTTP status sent; None while the latency runs, when the client left first, and
    for hangs."""
    error: str | None = None
    """Why the body could not be parsed (bad_request) or the signature failed (bad_signature)."""
    path: str = ""
    """The path and query string requested."""

    def header(self, name: str) -> str | None:
        """Look a header up case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def to_json(self) -> dict[str, Any]:
        """The record as the /received endpoint shows it."""
        return {
            "kind": self.kind,
            "received_at": self.received_at.isoformat(),
            "headers": self.headers,
            "body": self.body,
            "raw_body": self.raw_body,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "error": self.error,
            "path": self.path,
        }


class BuyerState:
    """One buyer's live behaviour and memory."""

    def __init__(self, behaviour: SimBuyer, max_received: int) -> None:
        self.behaviour = behaviour
        self.rng = random.Random(behaviour.seed)
        # Its own stream, so that availability checks never shift the bids' draws.
        self.availability_rng = random.Random(
            None if behaviour.seed is None else f"available-{behaviour.seed}"
        )
        self.received: deque[ReceivedRequest] = deque(maxlen=max_received)
        self._bids: OrderedDict[str, Decimal] = OrderedDict()

    def decide(self) -> Decision:
        """Draw the next request's decision."""
        return decide(self.behaviour, self.rng)

    def is_available(self) -> bool:
        """Roll whether an agent is free now."""
        roll = self.availability_rng.random()
        return self.behaviour.available and roll < self.behaviour.available_rate

    def issue_bid(self, price: Decimal) -> str:
        """Remember a bid so that its post can be honoured; returns the bid id."""
        bid_id = str(uuid.uuid4())
        if self.behaviour.bid_id_length > len(bid_id):  # a token: the id, then its "signature"
            signature = uuid.uuid4().hex * (self.behaviour.bid_id_length // 32 + 1)
            bid_id = f"{bid_id}.{signature}"[: self.behaviour.bid_id_length]
        self._bids[bid_id] = price
        if len(self._bids) > MAX_OPEN_BIDS:
            self._bids.popitem(last=False)
        return bid_id

    def bid_price(self, bid_id: str) -> Decimal | None:
        """The price of a bid this buyer issued, or None if it never did."""
        return self._bids.get(bid_id)


class BuyerRegistry:
    """All buyers the simulator serves, by name."""

    def __init__(self, config: SimulatorConfig, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.max_received = config.max_received
        self._buyers: dict[str, BuyerState] = {}
        for buyer in config.buyers:
            self.put(buyer)

    def get(self, name: str) -> BuyerState | None:
        """The buyer's state, or None for an unknown name."""
        return self._buyers.get(name)

    def require(self, name: str) -> BuyerState:
        """The buyer's state; KeyError naming the known buyers otherwise."""
        state = self._buyers.get(name)
        if state is None:
            known = ", ".join(sorted(self._buyers)) or "none"
            raise KeyError(f"unknown simulated buyer {name!r} (known: {known})")
        return state

    def put(self, buyer: SimBuyer) -> None:
        """Add or replace a buyer, with a fresh random stream and memory."""
        # A private copy: two simulators started from one config must not share behaviour.
        self._buyers[buyer.name] = BuyerState(buyer.model_copy(deep=True), self.max_received)

    def names(self) -> list[str]:
        """Buyer names in configuration order."""
        return list(self._buyers)
