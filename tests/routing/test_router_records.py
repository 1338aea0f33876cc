"""What buyers are sent, and what routing records: attempts, skips, sales.

A ping carries only non-PII fields; a post carries the full lead and the bid it answers.
Every answer is recorded whole; every campaign not offered the lead says why.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pingtree.buyers.model import Exchange, Outcome
from pingtree.clock import ManualClock
from pingtree.routing.engine import Router
from pingtree.routing.model import (
    Attempt,
    Reading,
    RoutingResult,
    SaleResult,
    Skip,
    SkipReason,
)
from pingtree.routing.ports import Answer, Bid
from tests import factories
from tests.routing.catalogs import NOW, bidder, catalog, fixed, offer, sold
from tests.routing.memory_ports import (
    MemoryCapLedger,
    ScriptedGateway,
    accepted,
    bid,
    rejected,
)

NON_PII = {"zip": "10001", "state": "NY", "age": 36, "credit": "good"}


async def _route(
    campaigns: list[dict[str, Any]],
    tiers: list[dict[str, Any]],
    gateway: ScriptedGateway,
    *,
    ledger: MemoryCapLedger | None = None,
    test: bool = False,
    **kw: Any,
) -> RoutingResult:
    built = catalog(campaigns, tiers, **kw)
    router = Router(gateway=gateway, ledger=ledger or MemoryCapLedger(), clock=ManualClock(NOW))
    return await router.route(offer(test=test), built.trees["main"], built)


# --- what buyers are sent ------------------------------------------------------------------


async def test_a_ping_carries_the_non_pii_fields_and_a_post_the_whole_lead() -> None:
    gateway = ScriptedGateway(pings={"b": bid("6.50", reference="bid-9")})
    await _route([bidder("b")], [factories.tier("t", "priority", ["b"])], gateway)
    ping, post = gateway.call("ping", "b"), gateway.call("post", "b")
    assert (ping.lead_id, ping.fields, ping.test) == ("lead-1", NON_PII, False)
    assert (post.lead_id, post.fields, post.test) == ("lead-1", factories.LEAD_FIELDS, False)
    assert post.bid == Bid("b", Decimal("6.50"), "bid-9")


async def test_a_campaign_pinging_only_some_fields_gets_only_those() -> None:
    gateway = ScriptedGateway(pings={"b": bid("6.50")})
    spec = bidder("b")
    spec["delivery"]["ping_fields"] = ["state", "credit", "email"]
    await _route([spec], [factories.tier("t", "priority", ["b"])], gateway)
    assert gateway.call("ping", "b").fields == {"state": "NY", "credit": "good"}


async def test_a_fixed_price_campaign_that_pings_first_is_posted_at_its_price() -> None:
    gateway = ScriptedGateway(pings={"f": bid("1.00", reference="ok-7")})
    result = await _route(
        [fixed("f", "12.00", ping=True)], [factories.tier("t", "priority", ["f"])], gateway
    )
    assert gateway.call("post", "f").bid == Bid("f", Decimal("12.00"), "ok-7")
    assert [(s.campaign, s.price) for s in result.sales] == [("f", Decimal("12.00"))]


async def test_a_fixed_price_campaign_declining_the_ping_is_not_posted() -> None:
    for flow in ("priority", "parallel"):
        gateway = ScriptedGateway(pings={"f": rejected()})
        result = await _route(
            [fixed("f", "12.00", ping=True), fixed("g", "3.00")],
            [factories.tier("t", flow, ["f", "g"])],
            gateway,
        )
        assert gateway.posted() == ["g"], flow
        assert sold(result) == ["g"], flow


async def test_a_fixed_price_campaign_is_posted_without_a_bid() -> None:
    gateway = ScriptedGateway()
    await _route([fixed("f")], [factories.tier("t", "priority", ["f"])], gateway)
    assert gateway.sent == [("post", "f")]
    assert gateway.call("post", "f").bid is None


async def test_a_test_lead_is_sent_as_a_test() -> None:
    gateway = ScriptedGateway(pings={"b": bid("6.50")})
    await _route([bidder("b")], [factories.tier("t", "priority", ["b"])], gateway, test=True)
    assert [c.test for c in gateway.calls] == [True, True]


# --- attempts ------------------------------------------------------------------------------


async def test_every_answer_is_recorded_whole_with_its_tier() -> None:
    ping = Answer(
        Reading(Outcome.ACCEPTED, price=Decimal("7.25"), reference="bid-1"),
        duration_ms=40,
        request={"url": "ping"},
        response={"status": 200},
    )
    post = Answer(
        Reading(
            Outcome.ACCEPTED,
            reference="buyer-lead-1",
            reason="welcome",
            redirect_url="https://buyer.example/thanks",
        ),
        duration_ms=120,
        request={"url": "post"},
        response={"status": 201},
    )
    gateway = ScriptedGateway(pings={"b": ping}, posts={"b": post})
    result = await _route(
        [bidder("b", buyer="acme")], [factories.tier("t", "priority", ["b"])], gateway
    )
    assert result.attempts == [
        Attempt(
            campaign="b",
            buyer="acme",
            kind=Exchange.PING,
            started_at=NOW - timedelta(milliseconds=40),
            answer=ping,
            tier="t",
        ),
        Attempt(
            campaign="b",
            buyer="acme",
            kind=Exchange.POST,
            started_at=NOW - timedelta(milliseconds=120),
            answer=post,
            tier="t",
            bid_price=Decimal("7.25"),
        ),
    ]
    # Reported at the price the answer stated, else the agreed one; only a post agrees one.
    assert [(a.price, a.price_mismatch) for a in result.attempts] == [
        (Decimal("7.25"), False),
        (Decimal("7.25"), False),
    ]
    assert result.sales == [
        SaleResult(
            campaign="b",
            buyer="acme",
            price=Decimal("7.25"),
            reference="buyer-lead-1",
            redirect_url="https://buyer.example/thanks",
            reservation_id="r1",
            tier="t",
        )
    ]


async def _post_answering(answer: Answer, post_price: str = "bid") -> RoutingResult:
    gateway = ScriptedGateway(pings={"b": bid("9.00")}, posts={"b": answer})
    return await _route(
        [bidder("b", price={"post_price": post_price})],
        [factories.tier("t", "priority", ["b"])],
        gateway,
    )


async def test_an_accept_stating_another_price_is_a_mismatch_booked_by_the_post_price() -> None:
    for post_price, booked in (("bid", "9.00"), ("answer", "8.00"), ("lower", "8.00")):
        result = await _post_answering(accepted(price=Decimal("8.00")), post_price)
        post = result.attempts[1]
        assert (post.bid_price, post.answer.reading.price, post.price) == (
            Decimal("9.00"),
            Decimal("8.00"),
            Decimal("8.00"),
        )
        assert post.price_mismatch, post_price
        assert [s.price for s in result.sales] == [Decimal(booked)], post_price


async def test_an_accept_at_the_bid_or_without_a_price_is_no_mismatch() -> None:
    same = (await _post_answering(accepted(price=Decimal("9.00")), "answer")).attempts[1]
    assert (same.price, same.price_mismatch) == (Decimal("9.00"), False)
    silent = (await _post_answering(accepted(), "answer")).attempts[1]
    assert (silent.price, silent.answer.reading.price, silent.price_mismatch) == (
        Decimal("9.00"),
        None,
        False,
    )


async def test_a_rejection_stating_a_price_is_no_mismatch() -> None:
    answer = Answer(Reading(Outcome.REJECTED, price=Decimal("3.00")), duration_ms=5)
    result = await _post_answering(answer)
    post = result.attempts[1]
    assert (post.answer.reading.outcome, post.price_mismatch) == (
        Outcome.REJECTED,
        False,
    )
    assert result.sales == []


async def _answering_above_the_bid(
    answer: str,
    *,
    caps: dict[str, Any] | None,
    ledger: MemoryCapLedger,
    post_price: str = "answer",
    test: bool = False,
) -> RoutingResult:
    """A buyer bidding 9.00 whose accepted post states answer; its campaign books post_price."""
    gateway = ScriptedGateway(
        pings={"b": bid("9.00")}, posts={"b": accepted(price=Decimal(answer))}
    )
    extra = {"caps": caps} if caps is not None else {}
    return await _route(
        [bidder("b", price={"post_price": post_price}, **extra)],
        [factories.tier("t", "priority", ["b"])],
        gateway,
        ledger=ledger,
        test=test,
    )


BUDGET_100 = {"budget": {"daily": "100.00"}}


async def test_an_answer_above_the_bid_beyond_the_budget_is_booked_at_the_bid() -> None:
    # A hostile buyer bids 9.00 and answers its post 500.00: its daily budget of 100.00 has
    # no room for the difference, so the sale is booked at the bid its hold was taken at,
    # and the post's record says why.
    ledger = MemoryCapLedger(budgets={"b": Decimal("100.00")})
    result = await _answering_above_the_bid("500.00", caps=BUDGET_100, ledger=ledger)
    assert [(s.campaign, s.price) for s in result.sales] == [("b", Decimal("9.00"))]
    post = result.attempts[1]
    assert (post.bid_price, post.answer.reading.price, post.price_mismatch) == (
        Decimal("9.00"),
        Decimal("500.00"),
        True,
    )
    assert post.answer.response["over_budget"] == (
        "no budget room for 500.00: booked at 9.00, the price held"
    )
    assert ledger.raises == [("r1", Decimal("500.00"), False)]
    assert ledger.spent("b") == Decimal("9.00")


async def test_an_answer_above_the_bid_within_the_budget_is_booked_at_the_answer() -> None:
    ledger = MemoryCapLedger(budgets={"b": Decimal("100.00")})
    result = await _answering_above_the_bid("50.00", caps=BUDGET_100, ledger=ledger)
    assert [s.price for s in result.sales] == [Decimal("50.00")]
    assert "over_budget" not in result.attempts[1].answer.response
    assert ledger.raises == [("r1", Decimal("50.00"), True)]
    assert ledger.spent("b") == Decimal("50.00")


async def test_a_ledger_that_cannot_raise_the_hold_books_the_bid() -> None:
    ledger = MemoryCapLedger(budgets={"b": Decimal("100.00")})

    async def down(*args: Any, **kw: Any) -> bool:
        raise TimeoutError("the cap ledger did not answer")

    ledger.raise_hold = down  # type: ignore[method-assign]
    result = await _answering_above_the_bid("50.00", caps=BUDGET_100, ledger=ledger)
    assert [s.price for s in result.sales] == [Decimal("9.00")]
    assert result.attempts[1].answer.response["over_budget"] == (
        "budget not raised to 50.00 (TimeoutError): booked at 9.00"
    )


async def test_no_raise_is_asked_without_a_budget_a_hold_or_a_higher_price() -> None:
    # Count caps only, or no caps: the answer's price is booked as it stands. A test lead
    # takes no hold. An answer at or below the bid (or post_price lower) needs no room.
    cases: list[tuple[str, dict[str, Any] | None, str, bool, str]] = [
        ("500.00", {"daily": 5}, "answer", False, "500.00"),
        ("500.00", None, "answer", False, "500.00"),
        ("500.00", BUDGET_100, "answer", True, "500.00"),
        ("5.00", BUDGET_100, "answer", False, "5.00"),
        ("500.00", BUDGET_100, "lower", False, "9.00"),
        ("500.00", BUDGET_100, "bid", False, "9.00"),
    ]
    for answer, caps, post_price, test, booked in cases:
        ledger = MemoryCapLedger()
        result = await _answering_above_the_bid(
            answer, caps=caps, ledger=ledger, post_price=post_price, test=test
        )
        case = (answer, caps, post_price, test)
        assert [s.price for s in result.sales] == [Decimal(booked)], case
        assert ledger.raises == [], case
        assert "over_budget" not in result.attempts[1].answer.response, case


# --- skips: who was not offered the lead, and why ------------------------------------------


async def test_a_bid_accepted_without_a_price_is_no_bid_and_the_lead_cascades() -> None:
    gateway = ScriptedGateway(pings={"silent": accepted(), "next": bid("4.00")})
    result = await _route(
        [bidder("silent"), bidder("next")],
        [factories.tier("t", "priority", ["silent", "next"])],
        gateway,
    )
    assert result.skips == [Skip("silent", SkipReason.NO_BID, "ping accepted without a price", "t")]
    assert sold(result) == ["next"]


async def test_a_declined_ping_cascades_to_the_next_campaign_of_the_tier() -> None:
    gateway = ScriptedGateway(pings={"no": rejected(), "yes": bid("4.00")})
    result = await _route(
        [bidder("no"), bidder("yes")],
        [factories.tier("t", "priority", ["no", "yes"])],
        gateway,
    )
    assert gateway.sent == [("ping", "no"), ("ping", "yes"), ("post", "yes")]
    assert (sold(result), result.skips) == (["yes"], [])


async def test_a_bid_under_the_floor_says_by_how_much() -> None:
    gateway = ScriptedGateway(pings={"low": bid("4.99"), "ok": bid("5.00")})
    result = await _route(
        [bidder("low", "5.00"), bidder("ok", "5.00")],
        [factories.tier("t", "priority", ["low", "ok"])],
        gateway,
    )
    assert result.skips == [Skip("low", SkipReason.BELOW_FLOOR, "bid 4.99 < floor 5.00", "t")]
    assert sold(result) == ["ok"]


async def test_campaigns_not_eligible_are_recorded_with_the_reason() -> None:
    off = fixed("off", active=False)
    picky = fixed("picky", filters=[{"field": "state", "op": "in", "values": ["CA"]}])
    ledger = MemoryCapLedger(closed={"full": "daily cap 10 reached"})
    gateway = ScriptedGateway()
    result = await _route(
        [off, picky, fixed("full"), fixed("open")],
        [factories.tier("t", "priority", ["off", "picky", "full", "open"])],
        gateway,
        ledger=ledger,
    )
    assert result.skips == [
        Skip("off", SkipReason.INACTIVE, "", "t"),
        Skip("picky", SkipReason.FILTER, "state in [CA]", "t"),
        Skip("full", SkipReason.CAP, "daily cap 10 reached", "t"),
    ]
    assert gateway.posted() == ["open"]


async def test_a_full_cap_is_recorded_and_the_lead_cascades() -> None:
    gateway = ScriptedGateway()
    result = await _route(
        [fixed("full", "12.00"), fixed("open")],
        [factories.tier("t", "price", ["full", "open"])],
        gateway,
        ledger=MemoryCapLedger(caps={"full": 0}),
    )
    assert result.skips == [Skip("full", SkipReason.CAP_REACHED, "cap filled by other leads", "t")]
    assert gateway.posted() == ["open"]


async def test_a_cap_ledger_that_fails_skips_the_campaign_unposted_and_cascades() -> None:
    gateway = ScriptedGateway()
    result = await _route(
        [fixed("down", "12.00"), fixed("open")],
        [factories.tier("t", "price", ["down", "open"])],
        gateway,
        ledger=MemoryCapLedger(down={"down"}),
    )
    assert result.skips == [Skip("down", SkipReason.CAP_UNAVAILABLE, "TimeoutError", "t")]
    assert gateway.posted() == ["open"]
    assert sold(result) == ["open"]


async def test_a_rejected_post_gives_back_the_hold_it_took() -> None:
    ledger = MemoryCapLedger()
    gateway = ScriptedGateway(posts={"no": rejected()})
    result = await _route(
        [fixed("no", "12.00"), fixed("yes")],
        [factories.tier("t", "price", ["no", "yes"])],
        gateway,
        ledger=ledger,
    )
    taken = {h.campaign: h.reservation for h in ledger.holds}
    assert result.released == [taken["no"]]
    assert [s.reservation_id for s in result.sales] == [taken["yes"]]
    assert [(h.campaign, h.lead_id, h.price, h.at) for h in ledger.holds] == [
        ("no", "lead-1", Decimal("12.00"), NOW),
        ("yes", "lead-1", Decimal("10.00"), NOW),
    ]


async def test_a_second_campaign_of_a_buyer_is_skipped_without_detail() -> None:
    gateway = ScriptedGateway()
    result = await _route(
        [fixed("a1", "9.00", buyer="acme"), fixed("a2", "8.00", buyer="acme"), fixed("z", "7.00")],
        [factories.tier("t", "price", ["a1", "a2", "z"])],
        gateway,
        tree={"lead_type": "shared", "max_buyers": 3},
    )
    assert result.skips == [Skip("a2", SkipReason.ALREADY_SOLD_TO_BUYER, "", "t")]
    assert sold(result) == ["a1", "z"]


async def test_a_schedule_is_read_at_the_routers_time_in_the_campaigns_zone() -> None:
    business = {
        "timezone": "America/New_York",
        "windows": [{"days": ["wed"], "start": "09:00", "end": "17:00"}],
    }
    built = catalog(
        [fixed("office", "12.00", schedule=business), fixed("always")],
        [factories.tier("t", "price", ["office", "always"])],
    )
    clock = ManualClock(NOW)  # Wednesday 15:00 UTC: 10:00 in New York
    router = Router(gateway=ScriptedGateway(), ledger=MemoryCapLedger(), clock=clock)
    open_ = await router.route(offer("lead-1"), built.trees["main"], built)
    clock.set(NOW + timedelta(hours=7))  # 22:00 UTC: 17:00 in New York, closed
    closed = await router.route(offer("lead-2"), built.trees["main"], built)
    assert (sold(open_), open_.skips) == (["office"], [])
    assert sold(closed) == ["always"]
    assert closed.skips == [
        Skip("office", SkipReason.SCHEDULE, "outside schedule (America/New_York)", "t")
    ]


async def test_a_blocked_buyer_is_recorded_with_why_and_the_room_is_asked_at_the_routers_time() -> (
    None
):
    built = catalog(
        [fixed("dup", "12.00", buyer="acme"), fixed("open")],
        [factories.tier("t", "price", ["dup", "open"])],
    )
    ledger = MemoryCapLedger()
    gateway = ScriptedGateway()
    router = Router(gateway=gateway, ledger=ledger, clock=ManualClock(NOW))
    result = await router.route(
        offer(), built.trees["main"], built, blocked_buyers={"acme": "suppressed: email"}
    )
    assert result.skips == [Skip("dup", SkipReason.BLOCKED, "suppressed: email", "t")]
    assert gateway.posted() == ["open"]
    assert ledger.looked == [("open", NOW)]


async def test_a_buyer_that_bought_in_an_earlier_tier_is_not_even_pinged_in_a_later_auction() -> (
    None
):
    gateway = ScriptedGateway(pings={"a2": bid("9.00"), "z": bid("5.00")})
    result = await _route(
        [fixed("a1", "9.00", buyer="acme"), bidder("a2", buyer="acme"), bidder("z")],
        [factories.tier("t1", "priority", ["a1"]), factories.tier("t2", "parallel", ["a2", "z"])],
        gateway,
        tree={"lead_type": "shared", "max_buyers": 3},
    )
    assert gateway.sent == [("post", "a1"), ("ping", "z"), ("post", "z")]
    assert result.skips == [Skip("a2", SkipReason.ALREADY_SOLD_TO_BUYER, "", "t2")]
    assert sold(result) == ["a1", "z"]
