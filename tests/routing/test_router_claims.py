"""Cap room and buyers' dedup claims around a post, and test leads, which count in neither."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pingtree.clock import Deadline, ManualClock
from pingtree.config.catalog import Catalog
from pingtree.routing.engine import Router
from pingtree.routing.model import RoutingResult, Skip, SkipReason
from tests import factories
from tests.routing.catalogs import NOW, catalog, fixed, offer, sold
from tests.routing.memory_ports import (
    Claim,
    MemoryCapLedger,
    MemoryPurchases,
    ScriptedGateway,
    StoppedClock,
    rejected,
)

PERSON = ("person-1", "person-1-phone")


async def _route(
    gateway: ScriptedGateway,
    *,
    ledger: MemoryCapLedger | None = None,
    purchases: MemoryPurchases | None = None,
    dedup_days: int = 30,
    test: bool = False,
    people: tuple[str, ...] = PERSON,
    **campaign: Any,
) -> RoutingResult:
    built = catalog(
        [fixed("alpha", "12.00", **campaign), fixed("beta")],
        [factories.tier("t", "price", ["alpha", "beta"])],
        buyer_dedup_days=dedup_days,
    )
    ledger = ledger or MemoryCapLedger()
    ledger.purchases = ledger.purchases or purchases  # claimed with the hold, as in SQL
    router = Router(
        gateway=gateway,
        ledger=ledger,
        clock=ManualClock(NOW),
        purchases=purchases,
    )
    return await router.route(offer(test=test, people=people), built.trees["main"], built)


async def test_a_buyer_holding_the_person_is_skipped_and_keeps_no_cap_room() -> None:
    purchases = MemoryPurchases({("alpha", "person-1"): ("lead-0", NOW - timedelta(days=29))})
    ledger = MemoryCapLedger()
    gateway = ScriptedGateway()
    result = await _route(gateway, ledger=ledger, purchases=purchases)
    detail = "duplicate: lead lead-0 holds or bought this person (window 30 days)"
    assert result.skips == [Skip("alpha", SkipReason.BLOCKED, detail, "t")]
    assert gateway.posted() == ["beta"]
    alpha_holds = {h.reservation for h in ledger.holds if h.campaign == "alpha"}
    assert alpha_holds <= set(result.released)
    assert [s.reservation_id for s in result.sales] == [ledger.holds[-1].reservation]


async def test_the_person_is_claimed_with_the_hold_so_a_buyer_holding_it_takes_no_room() -> None:
    purchases = MemoryPurchases({("alpha", "person-1"): ("lead-0", NOW)})
    ledger = MemoryCapLedger()
    result = await _route(ScriptedGateway(), ledger=ledger, purchases=purchases)
    assert [h.campaign for h in ledger.holds] == ["beta"]
    assert (result.released, result.claimed, sold(result)) == ([], ["beta"], ["beta"])
    assert [c.buyer for c in purchases.claims] == ["alpha", "beta"]


async def test_the_claim_names_the_buyer_its_window_the_person_and_the_lead() -> None:
    purchases = MemoryPurchases()
    result = await _route(ScriptedGateway(), purchases=purchases, dedup_days=7)
    assert sold(result) == ["alpha"]
    assert purchases.claims == [Claim("alpha", 7, PERSON, "lead-1", NOW)]


async def test_a_purchase_older_than_the_buyers_window_does_not_block() -> None:
    purchases = MemoryPurchases({("alpha", "person-1"): ("lead-0", NOW - timedelta(days=31))})
    result = await _route(ScriptedGateway(), purchases=purchases)
    assert (sold(result), result.skips) == (["alpha"], [])


async def test_no_claim_without_a_person_a_window_or_for_a_test_lead() -> None:
    for kw in ({"people": ()}, {"dedup_days": 0}, {"test": True}):
        purchases = MemoryPurchases({("alpha", "person-1"): ("lead-0", NOW)})
        result = await _route(ScriptedGateway(), purchases=purchases, **kw)
        assert sold(result) == ["alpha"], kw
        assert purchases.claims == [], kw


async def test_a_router_without_purchases_sells_without_claims() -> None:
    result = await _route(ScriptedGateway(), purchases=None)
    assert sold(result) == ["alpha"]


async def test_a_test_lead_takes_no_cap_room_and_ignores_full_caps() -> None:
    ledger = MemoryCapLedger(caps={"alpha": 0}, closed={"alpha": "daily cap 10 reached"})
    gateway = ScriptedGateway()
    result = await _route(gateway, ledger=ledger, test=True)
    assert [(s.campaign, s.price, s.reservation_id) for s in result.sales] == [
        ("alpha", Decimal("12.00"), None)
    ]
    assert (ledger.holds, result.skips, result.released) == ([], [], [])


async def test_a_test_lead_rejected_by_a_buyer_gives_nothing_back() -> None:
    ledger = MemoryCapLedger()
    result = await _route(ScriptedGateway(posts={"alpha": rejected()}), ledger=ledger, test=True)
    assert sold(result) == ["beta"]
    assert (ledger.holds, result.released) == ([], [])


# --- a cap the view says is full, read again from the system of record -------------------


def _capped() -> Catalog:
    return catalog(
        [
            fixed("reopened", "12.00"),
            fixed("full", "11.50"),
            fixed("zero", "11.00", caps={"daily": 0}),
            fixed("picky", "10.50", filters=[{"field": "state", "op": "in", "values": ["CA"]}]),
            fixed("open"),
        ],
        [factories.tier("t", "price", ["reopened", "full", "zero", "picky", "open"])],
    )


async def test_campaigns_the_view_says_are_full_are_read_again_and_offered_if_room_came_back() -> (
    None
):
    built = _capped()
    ledger = MemoryCapLedger(
        closed={"reopened": "daily cap 10 reached", "full": "daily cap 10 reached"},
        reopened={"reopened"},
    )
    gateway = ScriptedGateway()
    router = Router(gateway=gateway, ledger=ledger, clock=ManualClock(NOW))
    result = await router.route(offer(), built.trees["main"], built)
    # A cap of 0 is closed by the configuration: no storage can give room back.
    assert ledger.rechecked == [(("reopened", "full"), NOW)]
    assert gateway.posted() == ["reopened"]
    assert result.skips == [
        Skip("full", SkipReason.CAP, "daily cap 10 reached", "t"),
        Skip("zero", SkipReason.CAP, "daily cap 0: closed", "t"),
        Skip("picky", SkipReason.FILTER, "state in [CA]", "t"),
    ]


async def test_a_recheck_that_does_not_answer_within_the_leads_time_leaves_the_view_standing() -> (
    None
):
    built = _capped()
    # The view learns of the room at once, but the answer comes after the lead's 50 ms.
    ledger = MemoryCapLedger(
        closed={"reopened": "daily cap 10 reached"}, reopened={"reopened"}, recheck_s=0.3
    )
    gateway = ScriptedGateway()
    clock = StoppedClock(NOW)
    router = Router(gateway=gateway, ledger=ledger, clock=clock)
    result = await router.route(
        offer(), built.trees["main"], built, deadline=Deadline.after_ms(clock, 50)
    )
    assert ledger.rechecked == [(("reopened",), NOW)]
    assert gateway.posted() == ["full"]
    assert result.skips[0] == Skip("reopened", SkipReason.CAP, "daily cap 10 reached", "t")


async def test_nothing_is_read_again_when_no_cap_the_view_keeps_could_have_room() -> None:
    built = catalog(
        [fixed("zero", "11.00", caps={"daily": 0}), fixed("open")],
        [factories.tier("t", "price", ["zero", "open"])],
    )
    ledger = MemoryCapLedger(reopened={"zero", "open"})
    result = await Router(gateway=ScriptedGateway(), ledger=ledger, clock=ManualClock(NOW)).route(
        offer(), built.trees["main"], built
    )
    assert ledger.rechecked == []
    assert (sold(result), result.skips) == (
        ["open"],
        [Skip("zero", SkipReason.CAP, "daily cap 0: closed", "t")],
    )
