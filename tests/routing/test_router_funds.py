"""A buyer's funds at the post: a bid is known only once it is in, so a buyer whose funds
left do not cover it is skipped there, before any cap room is held, and the lead cascades."""

from __future__ import annotations

from decimal import Decimal

from pingtree.clock import ManualClock
from pingtree.routing.engine import Router
from pingtree.routing.model import RoutingResult, Skip, SkipReason
from pingtree.routing.ports import Bid
from tests import factories
from tests.routing.catalogs import NOW, bidder, catalog, fixed, offer, sold
from tests.routing.memory_ports import MemoryCapLedger, MemoryFunds, ScriptedGateway, bid

SHORT = "funds left 5.00, price 9.00"


def _router(gateway: ScriptedGateway, ledger: MemoryCapLedger, funds: MemoryFunds) -> Router:
    return Router(gateway=gateway, ledger=ledger, clock=ManualClock(NOW), funds=funds)


async def _route(flow: str, *, test: bool = False) -> tuple[RoutingResult, MemoryCapLedger]:
    built = catalog(
        [bidder("apex"), fixed("backup", "4.00")],
        [factories.tier("t", flow, [{"campaign": "apex", "rank": 1}, "backup"])],
    )
    gateway = ScriptedGateway(pings={"apex": bid("9.00")})
    ledger = MemoryCapLedger()
    funds = MemoryFunds({"apex": Decimal("5.00")})
    result = await _router(gateway, ledger, funds).route(
        offer(test=test), built.trees["main"], built
    )
    return result, ledger


async def test_a_bid_over_the_buyers_funds_left_is_skipped_before_any_room_is_held() -> None:
    for flow in ("priority", "parallel"):
        result, ledger = await _route(flow)
        assert result.skips == [Skip("apex", SkipReason.FUNDS, SHORT, "t")], flow
        assert [h.campaign for h in ledger.holds] == ["backup"], flow
        assert (sold(result), result.released) == (["backup"], []), flow


async def test_a_test_lead_ignores_funds() -> None:
    result, ledger = await _route("priority", test=True)
    assert (sold(result), result.skips, ledger.holds) == (["apex"], [], [])


async def test_an_inbound_winner_short_of_funds_gives_its_held_room_back() -> None:
    built = catalog(
        [bidder("apex"), bidder("backup")],
        [factories.tier("t", "parallel", ["apex", "backup"])],
    )
    gateway = ScriptedGateway()
    ledger = MemoryCapLedger()
    funds = MemoryFunds({"apex": Decimal("5.00")})
    bids = [("t", Bid("apex", Decimal("9.00"), None)), ("t", Bid("backup", Decimal("4.00"), None))]
    result = await _router(gateway, ledger, funds).sell_to_bids(
        offer(), built.trees["main"], built, bids, held="held-1"
    )
    assert result.skips == [Skip("apex", SkipReason.FUNDS, SHORT, "t")]
    assert gateway.posted() == ["backup"]
    assert result.released == ["held-1"]
    assert [s.reservation_id for s in result.sales] == [ledger.holds[0].reservation]


async def test_a_buyer_short_of_funds_for_a_fixed_price_is_not_even_pinged() -> None:
    built = catalog(
        [fixed("apex", "9.00", ping=True), fixed("backup", "4.00")],
        [factories.tier("t", "priority", ["apex", "backup"])],
    )
    gateway = ScriptedGateway()
    result = await _router(
        gateway, MemoryCapLedger(), MemoryFunds({"apex": Decimal("5.00")})
    ).route(offer(), built.trees["main"], built)
    assert gateway.sent == [("post", "backup")]
    assert result.skips == [Skip("apex", SkipReason.FUNDS, SHORT, "t")]
