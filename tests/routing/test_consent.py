"""One-to-one consent in the routing core: only the buyers the consent names take part, in
small tiers, in big (indexed) tiers, in auctions, and when selling an inbound ping's bids;
each post hands the consent reference to the gateway."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pingtree.clock import ManualClock
from pingtree.config.catalog import Catalog
from pingtree.routing.engine import Router
from pingtree.routing.model import ConsentReference, LeadOffer, SkipReason
from pingtree.routing.ports import Bid
from tests import factories
from tests.routing.memory_ports import MemoryCapLedger, ScriptedGateway, bid
from tests.routing.test_router import URLS

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
REFERENCE = ConsentReference("consent-1", "a" * 64, "https://pt.example/c", NOW)


def _offer(consented: frozenset[str] | None) -> LeadOffer:
    return LeadOffer(
        "lead-1",
        "auto",
        "pub",
        dict(factories.LEAD_FIELDS),
        consent=REFERENCE,
        consented_buyers=consented,
    )


def _router(gateway: ScriptedGateway) -> Router:
    return Router(gateway=gateway, ledger=MemoryCapLedger(), clock=ManualClock(NOW))


@pytest.mark.parametrize("size", [3, 20])  # 20: the tier index rules campaigns out in bulk
async def test_only_the_named_buyers_are_offered_the_lead(size: int) -> None:
    names = [f"c{i:02d}" for i in range(size)]
    campaigns = [factories.campaign(n, URLS, buyer=f"b{n}") for n in names]
    entries: list[str | dict[str, Any]] = [{"campaign": n, "rank": i} for i, n in enumerate(names)]
    catalog = Catalog.build(
        factories.document(campaigns, [factories.tier("t", "priority", entries)])
    )
    gateway = ScriptedGateway()
    named = frozenset({f"b{names[-1]}"})
    result = await _router(gateway).route(_offer(named), catalog.trees["main"], catalog)
    assert gateway.posted() == [names[-1]]
    assert {s.campaign: s.reason for s in result.skips} == {
        n: SkipReason.CONSENT for n in names[:-1]
    }
    assert gateway.consents == [REFERENCE]

    everyone = ScriptedGateway()
    await _router(everyone).route(_offer(None), catalog.trees["main"], catalog)
    assert everyone.posted() == [names[0]]  # no one-to-one consent: the usual order


async def test_an_auction_pings_only_the_named_buyers() -> None:
    spec = [factories.campaign(n, URLS, bid=True) for n in ("rich", "named")]
    for s in spec:
        s["price"] = {"type": "bid"}
    catalog = Catalog.build(
        factories.document(spec, [factories.tier("t", "ping_post", ["rich", "named"])])
    )
    gateway = ScriptedGateway(pings={"rich": bid("50.00"), "named": bid("5.00")})
    result = await _router(gateway).route(
        _offer(frozenset({"named"})), catalog.trees["main"], catalog
    )
    assert gateway.sent == [("ping", "named"), ("post", "named")]
    assert [(s.campaign, s.price) for s in result.sales] == [("named", Decimal("5.00"))]


async def test_an_inbound_pings_bids_are_sold_only_to_named_buyers() -> None:
    spec = [factories.campaign(n, URLS) for n in ("winner", "named")]
    catalog = Catalog.build(
        factories.document(spec, [factories.tier("t", "ping_post", ["winner", "named"])])
    )
    ledger = MemoryCapLedger()
    held = await ledger.reserve(
        catalog.campaign("winner"), lead_id="lead-1", price=Decimal("9"), at=NOW, hold_s=60
    )
    bids = [("t", Bid("winner", Decimal("9"), None)), ("t", Bid("named", Decimal("4"), None))]
    gateway = ScriptedGateway()
    router = Router(gateway=gateway, ledger=ledger, clock=ManualClock(NOW))
    result = await router.sell_to_bids(
        _offer(frozenset({"named"})), catalog.trees["main"], catalog, bids, held=held
    )
    assert gateway.posted() == ["named"]
    assert {s.campaign: s.reason for s in result.skips} == {"winner": SkipReason.CONSENT}
    assert held in result.released  # the winner's held room is given back
