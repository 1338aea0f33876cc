"""Cap room and buyers' dedup claims around a post, and test leads, which count in neither."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pingtree.clock import ManualClock
from pingtree.routing.engine import Router
from pingtree.routing.model import RoutingResult, Skip, SkipReason
from tests import factories
from tests.routing.catalogs import NOW, catalog, fixed, offer, sold
from tests.routing.memory_ports import (
    Claim,
    MemoryCapLedger,
    MemoryPurchases,
    ScriptedGateway,
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
