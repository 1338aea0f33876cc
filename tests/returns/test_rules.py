"""A buyer's return rules: window, reasons, auto-approval, limits; refusals that say why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import API_KEY, campaign, document, tier
from tests.reporting.books import keep_books
from tests.returns.terms import buyer_key, with_terms

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _setup(h: Harness, returns: dict[str, Any] | None, *, buyers: int = 1) -> None:
    names = ["apex", "zenith", "vega"][:buyers]
    h.buyers(*(sim_buyer(n) for n in names))
    doc = document([campaign(n, h.sim) for n in names], [tier("t", "priority", names)])
    terms = {"returns": returns} if returns is not None else {}
    await h.configure(with_terms(doc, buyers={n: terms for n in names}))


async def _sell(h: Harness) -> str:
    answer = (await h.post_lead()).json()
    assert answer["status"] == "sold"
    lead_id: str = answer["lead_id"]
    return lead_id


async def _return(h: Harness, lead_id: str, reason: str = "fraud", buyer: str = "apex") -> Any:
    return await h.client.post(
        "/api/v1/returns", json={"lead_id": lead_id, "reason": reason}, headers=buyer_key(buyer)
    )


async def test_auto_approval_within_the_rules(engine: Harness) -> None:
    await _setup(engine, {"auto_approve": True, "max_age_hours": 24})
    lead_id = await _sell(engine)
    got = await _return(engine, lead_id)
    assert got.status_code == 201, got.text
    body = got.json()
    assert (body["status"], body["decided_by"], body["held_because"]) == ("approved", "auto", None)
    assert body["price"] == "10.00" and body["clawed_back"] == "5.00"
    mine = await engine.client.get("/api/v1/returns", headers=buyer_key("apex"))
    assert [r["id"] for r in mine.json()] == [body["id"]]
    one = await engine.client.get(f"/api/v1/returns/{body['id']}", headers=buyer_key("apex"))
    assert one.json()["status"] == "approved"
    story = await engine.timeline(lead_id)
    returned = [(e["kind"], e["actor"], e["details"].get("status")) for e in story["audit"]]
    assert returned[-2:] == [
        ("lead_returned", "buyer:apex", "pending"),
        ("lead_returned", "pingtree", "approved"),
    ]


async def test_older_sales_and_limits_wait_for_an_operator(engine_clocked: Harness) -> None:
    h = engine_clocked
    limit = {"period": "monthly", "count": 1}
    await _setup(h, {"auto_approve": True, "max_age_hours": 2, "limit": limit})
    first, second, old = await _sell(h), await _sell(h), await _sell(h)
    assert (await _return(h, first)).json()["status"] == "approved"
    held = (await _return(h, second)).json()
    assert held["status"] == "pending"
    assert held["held_because"] == "1 returns this monthly period reached"
    h.rt.clock.advance(3 * 3600)  # type: ignore[attr-defined]
    aged = (await _return(h, old)).json()
    assert (aged["status"], aged["held_because"]) == ("pending", "sold more than 2 hours ago")


async def test_a_percent_limit_counts_the_periods_purchases(engine: Harness) -> None:
    await _setup(engine, {"auto_approve": True, "limit": {"period": "daily", "percent": 50}})
    leads = [await _sell(engine) for _ in range(4)]
    statuses = [(await _return(engine, lead)).json()["status"] for lead in leads]
    assert statuses == ["approved", "approved", "pending", "pending"]  # 2 of 4 purchases


async def test_refusals_say_why(engine_clocked: Harness) -> None:
    h = engine_clocked
    await _setup(h, {"window_days": 1, "reasons": ["fraud", "wrong_number"]}, buyers=2)
    lead_id = await _sell(h)  # apex buys (first in the tier)
    got = await _return(h, lead_id, reason="changed_mind")
    assert got.status_code == 422
    assert got.json()["reasons"][0]["code"] == "invalid_reason"
    assert got.json()["reasons"][0]["field"] == "reason"
    got = await _return(h, lead_id, buyer="zenith")
    assert (got.status_code, got.json()["reasons"][0]["code"]) == (404, "not_found")
    got = await h.client.post(
        "/api/v1/returns",
        json={"lead_id": lead_id, "reason": "fraud"},
        headers={"X-Buyer-Key": "not-a-buyer-key-00000"},
    )
    assert (got.status_code, got.json()["reasons"][0]["code"]) == (401, "invalid_buyer_key")
    got = await h.client.post(
        "/api/v1/returns",
        json={"lead_id": lead_id, "reason": "fraud"},
        headers={"X-API-Key": API_KEY},
    )
    assert (got.status_code, got.json()["reasons"][0]["code"]) == (401, "missing_buyer_key")
    assert (await _return(h, lead_id)).status_code == 201
    again = await _return(h, lead_id)
    assert (again.status_code, again.json()["reasons"][0]["code"]) == (409, "already_returned")
    later = await _sell(h)
    h.rt.clock.advance(timedelta(days=1, seconds=1).total_seconds())  # type: ignore[attr-defined]
    got = await _return(h, later)
    assert (got.status_code, got.json()["reasons"][0]["code"]) == (422, "return_window_closed")


async def test_a_buyer_without_return_terms_may_not_return(engine_sqlite: Harness) -> None:
    await _setup(engine_sqlite, None)
    lead_id = await _sell(engine_sqlite)
    got = await _return(engine_sqlite, lead_id)
    assert (got.status_code, got.json()["reasons"][0]["code"]) == (403, "returns_not_accepted")


async def _admin(h: Harness, method: str, path: str, **kw: Any) -> httpx.Response:
    return await h.client.request(method, f"/api/v1/admin{path}", headers=ADMIN, **kw)


async def test_an_operator_rejects_with_a_reason(engine: Harness) -> None:
    await _setup(engine, {})
    lead_id = await _sell(engine)
    asked = (await _return(engine, lead_id)).json()
    no_note = await _admin(engine, "POST", f"/returns/{asked['id']}/reject", json={})
    assert no_note.status_code == 422
    got = await _admin(
        engine, "POST", f"/returns/{asked['id']}/reject", json={"note": "the lead was called"}
    )
    assert got.status_code == 200, got.text
    assert (got.json()["status"], got.json()["decision_note"]) == (
        "rejected",
        "the lead was called",
    )
    again = await _admin(engine, "POST", f"/returns/{asked['id']}/approve")
    assert (again.status_code, again.json()["reasons"][0]["code"]) == (409, "already_decided")
    await keep_books(engine.rt)
    story = await engine.timeline(lead_id)
    assert [e["kind"] for e in story["ledger"]] == ["sale", "payout"]  # nothing reversed
    decided = story["audit"][-1]
    assert (decided["kind"], decided["details"]) == (
        "lead_returned",
        {"status": "rejected", "note": "the lead was called"},
    )
    assert decided["actor"].startswith("operator:")


async def test_a_returned_lead_is_offered_to_the_others_never_the_returner(
    engine: Harness,
) -> None:
    await _setup(engine, {"auto_approve": True, "offer_again": True}, buyers=2)
    lead_id = await _sell(engine)
    got = (await _return(engine, lead_id)).json()
    assert (got["status"], got["offered_again"]) == ("approved", True)
    await keep_books(engine.rt)
    story = await engine.timeline(lead_id)
    assert story["status"] == "sold"
    assert [(s["buyer"], s["price"]) for s in story["sales"]] == [
        ("apex", "10.00"),
        ("zenith", "10.00"),
    ]
    assert any(
        s["campaign"] == "apex" and s["reason"] == "blocked" and "returned" in s["detail"]
        for s in story["skipped"]
    )
    assert [e["kind"] for e in story["ledger"]] == [
        "sale",
        "payout",
        "return",
        "clawback",
        "sale",
        "payout",
    ]
    assert story["ledger"][4]["debit"] == "buyer:zenith"


async def test_a_lead_returned_twice_is_never_offered_back_to_an_earlier_returner(
    engine: Harness,
) -> None:
    # apex buys it and returns it; offered again, zenith buys it and returns it too. Offered
    # a third time it goes to vega: neither buyer that returned it is offered it again
    # (apex, first in the tree, was when only the last returner was left out).
    h = engine
    await _setup(h, {"auto_approve": True, "offer_again": True}, buyers=3)
    lead_id = await _sell(h)
    first = (await _return(h, lead_id, buyer="apex")).json()
    assert (first["status"], first["offered_again"]) == ("approved", True)
    second = (await _return(h, lead_id, buyer="zenith")).json()
    assert (second["status"], second["offered_again"]) == ("approved", True)
    story = await h.timeline(lead_id)
    assert [s["buyer"] for s in story["sales"]] == ["apex", "zenith", "vega"]
    assert [r.kind for r in h.sim.received("apex")] == ["post"]
    assert [r.kind for r in h.sim.received("zenith")] == ["post"]


async def _approved_then_stopped(h: Harness, monkeypatch: Any, *, buyers: int = 2) -> str:
    """A sold lead returned and approved, the process stopped before offering it again."""
    from pingtree.returns import flows

    async def stopped_before_the_offer(rt: Any, decided: Any) -> None:
        rt.books.funds.spent(decided.buyer, -decided.price)  # what `after` does first

    await _setup(h, {"auto_approve": True, "offer_again": True}, buyers=buyers)
    lead_id = await _sell(h)
    with monkeypatch.context() as patched:
        patched.setattr(flows, "after", stopped_before_the_offer)
        got = (await _return(h, lead_id)).json()
    assert (got["status"], got["offered_again"]) == ("approved", False)
    return lead_id


async def test_a_returned_lead_left_unoffered_by_a_stop_is_offered_once_by_recovery(
    engine: Harness, monkeypatch: Any
) -> None:
    from pingtree.returns import flows

    h = engine
    lead_id = await _approved_then_stopped(h, monkeypatch)
    assert (await h.timeline(lead_id))["status"] == "sold"  # its only sale returned
    # Not before another process's offer would have ended
    assert await flows.offer_left_over(h.rt, older_than=timedelta(minutes=2)) == 0

    assert await flows.offer_left_over(h.rt, older_than=timedelta(0)) == 1
    assert await flows.offer_left_over(h.rt, older_than=timedelta(0)) == 0
    await keep_books(h.rt)
    story = await h.timeline(lead_id)
    assert [(s["buyer"], s["price"]) for s in story["sales"]] == [
        ("apex", "10.00"),
        ("zenith", "10.00"),
    ]
    mine = await h.client.get("/api/v1/returns", headers=buyer_key("apex"))
    assert [r["offered_again"] for r in mine.json()] == [True]
    assert [r.kind for r in h.sim.received("apex")] == ["post"]  # never offered to apex again


async def test_each_recovery_poll_offers_what_a_stop_left(
    engine: Harness, monkeypatch: Any
) -> None:
    import time_machine

    h = engine
    lead_id = await _approved_then_stopped(h, monkeypatch)
    await h.rt.recover()  # at once: the approving process may still be offering it
    assert h.sim.received("zenith") == []
    later = h.rt.clock.now() + timedelta(seconds=h.rt.interrupted_after_s() + 1)
    with time_machine.travel(later, tick=True):
        await h.rt.recover()
    assert [r.kind for r in h.sim.received("zenith")] == ["post"]
    assert (await h.timeline(lead_id))["status"] == "sold"


async def test_a_lead_offered_again_and_sold_before_the_stop_is_not_offered_twice(
    engine: Harness, monkeypatch: Any
) -> None:
    from pingtree.intake.reoffer import offer_again
    from pingtree.returns import flows

    h = engine
    lead_id = await _approved_then_stopped(h, monkeypatch)
    # Offered and sold to zenith; the process stops before it marks the return offered.
    assert (
        await offer_again(h.rt, lead_id, returned_by=frozenset({"apex"}), held_by=flows.holders_of)
    ) is not None
    assert await flows.offer_left_over(h.rt, older_than=timedelta(0)) == 0
    assert len(h.sim.received("zenith")) == 1


async def test_recovery_offers_again_only_the_leads_the_terms_in_force_when_decided_said(
    engine: Harness,
) -> None:
    # apex's terms say a returned lead stays returned; its return is approved (and not
    # offered, as the terms say). The operator then turns offer_again on: recovery must
    # not offer the lead decided before (was: sold again to zenith at the next poll).
    from pingtree.returns import flows

    h = engine
    await _setup(h, {"auto_approve": True, "offer_again": False}, buyers=2)
    lead_id = await _sell(h)
    got = (await _return(h, lead_id)).json()
    assert (got["status"], got["offered_again"]) == ("approved", False)
    await _setup(h, {"auto_approve": True, "offer_again": True}, buyers=2)
    assert await flows.offer_left_over(h.rt, older_than=timedelta(0)) == 0
    assert [s["buyer"] for s in (await h.timeline(lead_id))["sales"]] == ["apex"]
    assert h.sim.received("zenith") == []


async def test_two_processes_offering_a_left_over_lead_at_once_sell_it_once(
    engine: Harness, monkeypatch: Any
) -> None:
    # Every worker runs recovery each recovery_poll_s. Worker 1 finds nobody holding the
    # lead; worker 2 offers it and sells it to zenith before worker 1 takes it from sold
    # (was: worker 1 routed it again and zenith bought the same lead a second time).
    from pingtree.intake.reoffer import offer_again
    from pingtree.returns import flows

    h = engine
    lead_id = await _approved_then_stopped(h, monkeypatch, buyers=3)
    looked = flows._look

    async def while_the_other_worker_sells(
        engine: Any, lead: str
    ) -> tuple[frozenset[str], frozenset[str]]:
        seen = await looked(engine, lead)  # nobody holds it (apex's sale was returned)
        monkeypatch.setattr(flows, "_look", looked)
        assert (
            await offer_again(h.rt, lead, returned_by=frozenset({"apex"}), held_by=flows.holders_of)
            is not None
        )  # worker 2
        return seen

    monkeypatch.setattr(flows, "_look", while_the_other_worker_sells)
    assert await flows.offer_left_over(h.rt, older_than=timedelta(0)) == 0
    await keep_books(h.rt)
    story = await h.timeline(lead_id)
    assert [s["buyer"] for s in story["sales"]] == ["apex", "zenith"]  # sold once again
    assert story["status"] == "sold"
    assert h.sim.received("vega") == [] and len(h.sim.received("zenith")) == 1


async def test_a_return_decided_after_its_buyer_was_removed_follows_the_buyers_last_terms(
    engine: Harness,
) -> None:
    engine.buyers(sim_buyer("apex"), sim_buyer("zenith"))
    doc = document(
        [campaign("apex", engine.sim), campaign("zenith", engine.sim)],
        [tier("t", "priority", ["apex", "zenith"])],
    )
    terms = {"returns": {"claw_back": False, "offer_again": True}}
    await engine.configure(with_terms(doc, buyers={"apex": terms}))
    lead_id = await _sell(engine)
    asked = (await _return(engine, lead_id)).json()
    assert asked["status"] == "pending"
    await engine.configure(
        document([campaign("zenith", engine.sim)], [tier("t", "priority", ["zenith"])])
    )
    got = await _admin(engine, "POST", f"/returns/{asked['id']}/approve")
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["status"], body["clawed_back"], body["offered_again"]) == (
        "approved",
        "0.00",
        True,
    )
    await keep_books(engine.rt)
    story = await engine.timeline(lead_id)
    assert [(s["buyer"], s["price"]) for s in story["sales"]] == [
        ("apex", "10.00"),
        ("zenith", "10.00"),
    ]
    assert [e["kind"] for e in story["ledger"]] == ["sale", "payout", "return", "sale", "payout"]
