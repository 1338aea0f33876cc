"""A cascade's next hold, taken while the current post is out (Router._hold_ahead)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pingtree.clock import ManualClock
from pingtree.routing.engine import MOSTLY_TURNS_DOWN, Router
from pingtree.routing.model import RoutingResult, Skip, SkipReason
from pingtree.routing.ports import Answer, Bid
from tests import factories
from tests.routing.catalogs import NOW, bidder, catalog, fixed, offer, sold
from tests.routing.memory_ports import (
    MemoryCapLedger,
    MemoryPurchases,
    ScriptedGateway,
    accepted,
    bid,
    rejected,
)

THREE = ["alpha", "beta", "gamma"]
FIRST = "first"
"""Offered before the others and always turning the lead down: holds are taken ahead from a
lead's second post on, so these tests' alpha is a second post."""


@dataclass
class Watching(ScriptedGateway):
    """Notes which campaigns held room when each post's answer came back."""

    ledger: MemoryCapLedger = field(default_factory=MemoryCapLedger)
    held_at_answer: dict[str, list[str]] = field(default_factory=dict)
    held_on_the_wire: dict[str, list[str]] = field(default_factory=dict)

    async def post(self, campaign: Any, **kw: Any) -> Answer:
        # As the delivery process's link does, the request is written at the end of the
        # loop turn the post was called in (with the other requests of that turn).
        asyncio.get_running_loop().call_soon(self._on_the_wire, campaign.name)
        answer = await super().post(campaign, **kw)
        for _ in range(5):  # the buyer takes a while: whatever was started runs meanwhile
            await asyncio.sleep(0)
        self.held_at_answer[campaign.name] = [h.campaign for h in self.ledger.holds]
        return answer

    def _on_the_wire(self, name: str) -> None:
        self.held_on_the_wire[name] = [h.campaign for h in self.ledger.holds]


async def _route(
    gateway: Watching,
    campaigns: list[dict[str, Any]] | None = None,
    *,
    flow: str = "priority",
    test: bool = False,
    purchases: MemoryPurchases | None = None,
    first: bool = True,
) -> RoutingResult:
    """Route the example lead; first: offer FIRST before the campaigns (ranked first)."""
    campaigns = campaigns or [fixed(name) for name in THREE]
    if first:
        gateway.posts.setdefault(FIRST, rejected())
        if flow == "ping_post":
            gateway.pings.setdefault(FIRST, bid("99.00"))
            campaigns = [bidder(FIRST), *campaigns]
        else:
            campaigns = [fixed(FIRST), *campaigns]
    names = [c["name"] for c in campaigns]
    built = catalog(
        campaigns,
        [factories.tier("t", flow, names)],
        buyer_dedup_days=30 if purchases is not None else 0,
    )
    gateway.ledger.purchases = purchases
    router = Router(
        gateway=gateway, ledger=gateway.ledger, clock=ManualClock(NOW), purchases=purchases
    )
    people = ("person-1",) if purchases is not None else ()
    return await router.route(offer(test=test, people=people), built.trees["main"], built)


def _spare(*names: str) -> Watching:
    return Watching(ledger=MemoryCapLedger(spare_room={FIRST, *names}))


def _held(gateway: Watching) -> list[str]:
    return [h.campaign for h in gateway.ledger.holds]


async def test_the_next_hold_is_taken_while_the_post_before_it_is_out() -> None:
    gateway = _spare(*THREE)
    gateway.posts = {"alpha": rejected(), "beta": rejected()}
    result = await _route(gateway)
    assert gateway.held_at_answer == {
        FIRST: [FIRST],
        "alpha": [FIRST, "alpha", "beta"],
        "beta": [FIRST, "alpha", "beta", "gamma"],
        "gamma": [FIRST, "alpha", "beta", "gamma"],
    }
    reservations = [h.reservation for h in gateway.ledger.holds]
    assert sold(result) == ["gamma"]
    assert [s.reservation_id for s in result.sales] == [reservations[3]]
    assert sorted(result.released) == sorted(reservations[:3])


async def test_a_leads_first_post_takes_no_hold_ahead() -> None:
    """Most leads sell to their first buyer: a hold ahead of their second is not taken."""
    gateway = _spare(*THREE)
    result = await _route(gateway, first=False)
    assert (sold(result), _held(gateway), result.released) == (["alpha"], ["alpha"], [])


async def test_the_hold_ahead_does_not_go_out_in_front_of_the_post_it_waits_behind() -> None:
    gateway = _spare(*THREE)
    gateway.posts = {"alpha": rejected()}
    await _route(gateway)
    assert gateway.held_on_the_wire["alpha"] == [FIRST, "alpha"]
    assert gateway.held_at_answer["alpha"] == [FIRST, "alpha", "beta"]


async def test_a_hold_taken_ahead_and_not_needed_is_given_back() -> None:
    gateway = _spare(*THREE)
    result = await _route(gateway)
    assert sold(result) == ["alpha"]
    assert _held(gateway) == [FIRST, "alpha", "beta"]
    holds = gateway.ledger.holds
    assert sorted(result.released) == sorted([holds[0].reservation, holds[2].reservation])
    assert result.skips == []


async def test_no_hold_ahead_where_the_room_is_not_to_spare_or_for_a_test_lead() -> None:
    gateway = _spare("alpha", "gamma")  # beta near its cap, by the view
    gateway.posts = {"alpha": rejected(), "beta": rejected()}
    result = await _route(gateway)
    assert gateway.held_at_answer["alpha"] == [FIRST, "alpha"]
    assert gateway.held_at_answer["beta"] == [FIRST, "alpha", "beta", "gamma"]
    assert sold(result) == ["gamma"]

    testing = _spare(*THREE)
    testing.posts = {"alpha": rejected()}
    result = await _route(testing, test=True)
    assert (sold(result), testing.ledger.holds, result.released) == (["beta"], [], [])


async def test_the_person_is_claimed_with_the_hold_ahead_and_given_back_unless_bought() -> None:
    gateway = _spare(*THREE)
    gateway.posts = {"alpha": rejected()}
    purchases = MemoryPurchases()
    result = await _route(gateway, purchases=purchases)
    assert gateway.held_at_answer["alpha"] == [FIRST, "alpha", "beta"]
    assert [c.buyer for c in purchases.claims] == [FIRST, "alpha", "beta", "gamma"]
    assert sold(result) == ["beta"]
    # every buyer claimed is named, so that the record gives back those that did not buy
    assert result.claimed == [FIRST, "alpha", "beta", "gamma"]
    assert sorted(result.released) == sorted(
        h.reservation for h in gateway.ledger.holds if h.campaign != "beta"
    )


async def test_a_person_the_next_buyer_holds_skips_its_offer_taking_nothing() -> None:
    gateway = _spare(*THREE)
    gateway.posts = {"alpha": rejected()}
    purchases = MemoryPurchases({("beta", "person-1"): ("lead-0", NOW)})
    result = await _route(gateway, purchases=purchases)
    detail = "duplicate: lead lead-0 holds or bought this person (window 30 days)"
    assert result.skips == [Skip("beta", SkipReason.BLOCKED, detail, "t")]
    assert gateway.posted() == [FIRST, "alpha", "gamma"]
    assert _held(gateway) == [FIRST, "alpha", "gamma"]
    assert (sold(result), result.claimed) == (["gamma"], [FIRST, "alpha", "gamma"])


async def test_no_hold_ahead_for_a_campaign_that_is_pinged_first() -> None:
    """Its price is known only from its bid (and it may not bid at all)."""
    gateway = _spare("alpha", "beta")
    gateway.posts = {"alpha": rejected()}
    gateway.pings = {"beta": bid("9.00")}
    result = await _route(gateway, [fixed("alpha"), fixed("beta", ping=True)])
    assert gateway.held_at_answer["alpha"] == [FIRST, "alpha"]
    assert sold(result) == ["beta"]


async def test_a_hold_ahead_refused_skips_its_offer_as_any_refused_hold_does() -> None:
    full = _spare(*THREE)  # the view says beta has room; the ledger finds it full
    full.ledger.caps = {"beta": 0}
    full.posts = {"alpha": rejected()}
    result = await _route(full)
    assert result.skips == [Skip("beta", SkipReason.CAP_REACHED, "cap filled by other leads", "t")]
    assert sold(result) == ["gamma"]
    assert "beta" not in full.posted()

    down = _spare(*THREE)
    down.ledger.down = {"beta"}
    down.posts = {"alpha": rejected()}
    result = await _route(down)
    assert result.skips == [Skip("beta", SkipReason.CAP_UNAVAILABLE, "TimeoutError", "t")]
    assert sold(result) == ["gamma"]


async def test_an_auction_takes_the_next_bids_hold_while_a_bid_is_posted() -> None:
    gateway = _spare(*THREE)
    gateway.pings = {"alpha": bid("30.00"), "beta": bid("20.00"), "gamma": bid("10.00")}
    gateway.posts = {"alpha": rejected()}
    campaigns = [bidder(name) for name in THREE]
    result = await _route(gateway, campaigns, flow="ping_post")
    assert gateway.held_at_answer[FIRST] == [FIRST]
    assert gateway.held_at_answer["alpha"] == [FIRST, "alpha", "beta"]
    assert sold(result) == ["beta"]
    beta = gateway.ledger.holds[2]
    assert (beta.campaign, beta.price) == ("beta", bid("20.00").reading.price)
    assert result.sales[0].reservation_id == beta.reservation
    assert sorted(result.released) == sorted(
        h.reservation for h in gateway.ledger.holds if h.campaign != "beta"
    )
    assert gateway.call("post", "beta").bid == Bid("beta", beta.price, None)


@dataclass
class Gated(Watching):
    """Holds each lead's first post until `leads` first posts have arrived."""

    leads: int = 3
    arrived: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def post(self, campaign: Any, **kw: Any) -> Answer:
        if campaign.name == FIRST:
            self.arrived += 1
            if self.arrived == self.leads:
                self.gate.set()
            await self.gate.wait()
        return await super().post(campaign, **kw)


async def test_no_hold_ahead_while_the_router_routes_more_leads_than_its_limit() -> None:
    """Under load a hold ahead that is not used is work taken from other leads."""
    built = catalog(
        [fixed(name) for name in [FIRST, *THREE]],
        [factories.tier("t", "priority", [FIRST, *THREE])],
    )
    for up_to, beta_held in ((2, False), (3, True)):
        gateway = Gated(ledger=MemoryCapLedger(spare_room={FIRST, *THREE}))
        gateway.posts = {FIRST: [rejected(), rejected(), rejected()]}
        router = Router(
            gateway=gateway,
            ledger=gateway.ledger,
            clock=ManualClock(NOW),
            holds_ahead_up_to=up_to,
        )
        results = await asyncio.gather(
            *(router.route(offer(f"lead-{i}"), built.trees["main"], built) for i in range(3))
        )
        assert [sold(r) for r in results] == [["alpha"]] * 3
        assert ("beta" in _held(gateway)) is beta_held, up_to
        assert router.routing == 0


async def test_a_buyer_that_mostly_turns_leads_down_has_the_next_hold_taken_at_its_post() -> None:
    """Its recent posts, as this process saw them, tell: a lead it turns down cascades."""
    built = catalog([fixed(name) for name in THREE], [factories.tier("t", "priority", THREE)])
    gateway = _spare(*THREE)
    gateway.posts = {"alpha": [rejected()] * 7 + [accepted() for _ in range(8)]}
    router = Router(gateway=gateway, ledger=gateway.ledger, clock=ManualClock(NOW))

    async def beta_held_at_alphas_answer(lead: int) -> bool:
        await router.route(offer(f"lead-{lead}"), built.trees["main"], built)
        return gateway.held_at_answer["alpha"][-1] == "beta"

    # 1.0, then 0.9 a refusal: under a half after seven
    assert [await beta_held_at_alphas_answer(n) for n in range(7)] == [False] * 7
    assert router.takes("alpha") < MOSTLY_TURNS_DOWN <= router.takes("beta")
    assert await beta_held_at_alphas_answer(7)  # alpha accepted: beta's hold is given back
    assert gateway.ledger.holds[-1].campaign == "beta"
    # as alpha takes leads again, its first post goes out alone again
    assert [await beta_held_at_alphas_answer(n) for n in range(8, 15)] == [False] * 7
    assert router.takes("alpha") >= MOSTLY_TURNS_DOWN


async def test_a_test_leads_answers_do_not_count_in_what_a_buyer_takes() -> None:
    built = catalog([fixed(name) for name in THREE], [factories.tier("t", "priority", THREE)])
    gateway = _spare(*THREE)
    gateway.posts = {"alpha": [rejected()] * 8}
    router = Router(gateway=gateway, ledger=gateway.ledger, clock=ManualClock(NOW))
    for n in range(8):
        await router.route(offer(f"lead-{n}", test=True), built.trees["main"], built)
    assert gateway.posted().count("alpha") == 8
    assert router.takes("alpha") == 1.0
