"""Roll the dice for one request: latency, fault, bid and post outcome."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pingtree.money import CENT
from pingtree.simulator.behaviour import SimBuyer

Fault = Literal["error", "hang", "garbage"]


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything random about one answer, drawn up front so concurrency cannot reorder it."""

    latency_s: float
    fault: Fault | None
    bid: Decimal | None
    """The ping's bid; None means no bid."""
    no_bid_reason: str | None
    duplicate: bool
    accepted: bool
    price: Decimal
    """A price from the bid distribution, used by direct posts (posts without a bid_id)."""


def decide(buyer: SimBuyer, rng: random.Random) -> Decision:
    """Draw one request's decision from the buyer's behaviour and its random stream."""
    # Always the same six draws, whatever the branch, so that with one seed the n-th request
    # lines up with the n-th request of another run even when the rates differ.
    latency_roll, fault_roll, bid_roll, price_roll, duplicate_roll, accept_roll = (
        rng.random() for _ in range(6)
    )
    latency_ms = buyer.latency_ms_min + latency_roll * (buyer.latency_ms_max - buyer.latency_ms_min)
    price = _price(buyer, price_roll)
    bid: Decimal | None = price
    reason: str | None = None
    if bid_roll < buyer.no_bid_rate:
        bid, reason = None, "no demand for this lead"
    elif price == 0:
        bid, reason = None, "bid is zero"
    return Decision(
        latency_s=latency_ms / 1000,
        fault=_fault(buyer, fault_roll),
        bid=bid,
        no_bid_reason=reason,
        duplicate=duplicate_roll < buyer.duplicate_rate,
        accepted=accept_roll < buyer.accept_rate,
        price=price,
    )


def _fault(buyer: SimBuyer, roll: float) -> Fault | None:
    # One roll split into bands makes each rate the exact share of all requests.
    if roll < buyer.error_rate:
        return "error"
    if roll < buyer.error_rate + buyer.hang_rate:
        return "hang"
    if roll < buyer.error_rate + buyer.hang_rate + buyer.garbage_rate:
        return "garbage"
    return None


def _price(buyer: SimBuyer, roll: float) -> Decimal:
    # Uniform over whole cents, both ends included, so every bid is already a cent amount.
    low = int(buyer.bid_min / CENT)
    high = int(buyer.bid_max / CENT)
    step = min(math.floor(roll * (high - low + 1)), high - low)
    return (Decimal(low + step) * CENT).quantize(CENT)
