"""SimBuyer validation and the decision draws, without HTTP."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from pydantic import ValidationError

from pingtree.simulator import SimBuyer, SimulatorConfig
from pingtree.simulator.decisions import Decision, decide

from .conftest import buyer


def test_bid_min_above_bid_max_is_refused() -> None:
    with pytest.raises(ValidationError, match="bid_min"):
        buyer(bid_min=Decimal("30"), bid_max=Decimal("20"))


def test_fault_rates_cannot_exceed_one() -> None:
    with pytest.raises(ValidationError, match="error_rate \\+ hang_rate \\+ garbage_rate"):
        buyer(error_rate=0.5, hang_rate=0.4, garbage_rate=0.2)


def test_unknown_key_and_bad_name_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        buyer(acept_rate=0.5)
    with pytest.raises(ValidationError, match="name"):
        buyer(name="Not A Slug")


def test_runtime_assignment_is_validated() -> None:
    b = buyer()
    b.accept_rate = 0.25
    assert b.accept_rate == 0.25
    with pytest.raises(ValidationError):
        b.accept_rate = 1.5


def test_duplicate_buyer_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="more than once"):
        SimulatorConfig(buyers=[buyer("a"), buyer("a")])


def test_prices_are_cents_within_bounds_and_reach_both_ends() -> None:
    b = buyer(bid_min=Decimal("1.00"), bid_max=Decimal("1.05"))
    rng = random.Random(7)
    prices = {decide(b, rng).price for _ in range(2000)}
    assert prices == {Decimal(f"1.0{i}") for i in range(6)}


def test_same_seed_same_decisions_and_rates_do_not_shift_the_stream() -> None:
    calm = buyer(accept_rate=0.5, no_bid_rate=0.3)
    faulty = buyer(accept_rate=0.5, no_bid_rate=0.3, error_rate=0.2, latency_ms_max=50)

    def run(b: SimBuyer, seed: int) -> list[Decision]:
        rng = random.Random(seed)
        return [decide(b, rng) for _ in range(50)]

    a = run(calm, 42)
    assert a == run(calm, 42)
    assert a != run(calm, 43)
    # Changing one rate changes only that aspect: prices and acceptances stay aligned.
    c = run(faulty, 42)
    assert [d.price for d in c] == [d.price for d in a]
    assert [d.accepted for d in c] == [d.accepted for d in a]


def test_zero_bid_and_no_bid_rate_mean_no_bid() -> None:
    zero = buyer(bid_min=Decimal("0"), bid_max=Decimal("0"))
    decision = decide(zero, random.Random(1))
    assert decision.bid is None and decision.no_bid_reason == "bid is zero"
    never = buyer(no_bid_rate=1.0)
    decision = decide(never, random.Random(1))
    assert decision.bid is None and decision.no_bid_reason


def test_yaml_floats_become_exact_money() -> None:
    b = SimBuyer.model_validate({"name": "x", "bid_min": 12.1, "bid_max": 12.3})
    assert b.bid_min == Decimal("12.1")
