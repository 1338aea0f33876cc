"""Calls through the routing core (in-memory ports): a call is offered only to campaigns
that buy calls, a form lead only to the others; a caller who hangs up ends the routing;
a dial rings for the campaign's ring_s, not its ping timeout."""

from __future__ import annotations

import asyncio
import dataclasses

from pingtree.clock import ManualClock
from pingtree.routing.engine import Router
from pingtree.routing.model import SkipReason
from tests import factories
from tests.routing.catalogs import NOW, catalog, fixed, offer, skips, sold
from tests.routing.memory_ports import MemoryCapLedger, ScriptedGateway, rejected


def _buys_calls(name: str, **terms: object) -> dict[str, object]:
    spec = fixed(name)
    spec["delivery"].pop("post")
    return {**spec, "call": {"dial": "+15550001111", **terms}}


CATALOG = catalog(
    [fixed("form"), _buys_calls("phone", ring_s=45)],
    [factories.tier("t", "priority", [{"campaign": "phone", "rank": 1}, "form"])],
    tree={"max_processing_ms": 60_000},
)


def _router(gateway: ScriptedGateway) -> Router:
    return Router(gateway=gateway, ledger=MemoryCapLedger(), clock=ManualClock(NOW))


async def test_a_form_lead_is_not_offered_to_a_campaign_that_buys_calls() -> None:
    gateway = ScriptedGateway()
    result = await _router(gateway).route(offer(), CATALOG.trees["main"], CATALOG)
    assert skips(result) == {"phone": SkipReason.CHANNEL}
    assert gateway.posted() == ["form"] and sold(result) == ["form"]


async def test_a_call_is_offered_only_to_campaigns_that_buy_calls() -> None:
    gateway = ScriptedGateway()
    call = dataclasses.replace(offer(), call=True)
    result = await _router(gateway).route(call, CATALOG.trees["main"], CATALOG)
    assert skips(result) == {"form": SkipReason.CHANNEL}
    assert gateway.posted() == ["phone"] and sold(result) == ["phone"]
    assert gateway.call("post", "phone").timeout == 45  # its ring_s; the tree allows it


async def test_a_caller_who_hung_up_is_offered_to_nobody() -> None:
    both = catalog(
        [_buys_calls("first"), _buys_calls("second")],
        [factories.tier("t", "priority", [{"campaign": "first", "rank": 1}, "second"])],
    )
    gateway = ScriptedGateway(posts={"first": rejected()})
    left = asyncio.Event()
    left.set()
    call = dataclasses.replace(offer(), call=True, left=left)
    result = await _router(gateway).route(call, both.trees["main"], both)
    assert gateway.posted() == [] and sold(result) == []


async def test_a_dial_takes_its_hold_when_its_turn_comes_not_ahead() -> None:
    """A dial rings for seconds: the next campaign's hold waits for the dial before it."""
    both = catalog(
        [_buys_calls("first"), _buys_calls("second")],
        [factories.tier("t", "priority", [{"campaign": "first", "rank": 1}, "second"])],
    )
    ledger = MemoryCapLedger(spare_room={"first", "second"})
    holds_at_dial: list[list[str]] = []

    class Dialling(ScriptedGateway):
        async def post(self, campaign, **kw):  # type: ignore[no-untyped-def]
            for _ in range(5):  # the dial rings: what was started runs meanwhile
                await asyncio.sleep(0)
            holds_at_dial.append([h.campaign for h in ledger.holds])
            return await super().post(campaign, **kw)

    gateway = Dialling(posts={"first": rejected()})
    router = Router(gateway=gateway, ledger=ledger, clock=ManualClock(NOW))
    call = dataclasses.replace(offer(), call=True)
    result = await router.route(call, both.trees["main"], both)
    assert sold(result) == ["second"]
    assert holds_at_dial == [["first"], ["first", "second"]]
