"""A buyer's funds: prepaid or on credit; with none left its campaigns are skipped (`funds`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import campaign, document, tier
from tests.reporting.books import keep_books
from tests.returns.terms import buyer_key, with_terms

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _setup(h: Harness, funds: dict[str, Any], *, bid: bool = False) -> None:
    h.buyers(
        sim_buyer("apex", bid_min=Decimal("12.00"), bid_max=Decimal("12.00")), sim_buyer("backup")
    )
    apex = campaign("apex", h.sim, bid=True) if bid else campaign("apex", h.sim, price="10.00")
    doc = document(
        [apex, campaign("backup", h.sim, price="1.00")],
        [tier("t1", "priority", ["apex"]), tier("t2", "priority", ["backup"])],
    )
    await h.configure(with_terms(doc, buyers={"apex": {"funds": funds}}))


async def _credit(h: Harness, amount: str) -> None:
    got = await h.client.post(
        "/api/v1/admin/ledger/credits",
        json={"buyer": "apex", "amount": amount, "memo": "wire 118"},
        headers=ADMIN,
    )
    assert got.status_code == 201, got.text


async def _buyer_of_next_lead(h: Harness) -> tuple[str, list[dict[str, Any]]]:
    answer = (await h.post_lead()).json()
    story = await h.timeline(answer["lead_id"])
    return story["sales"][0]["buyer"], story["skipped"]


async def test_prepaid_funds_run_out_and_come_back(engine: Harness) -> None:
    await _setup(engine, {})
    buyer, skipped = await _buyer_of_next_lead(engine)
    assert buyer == "backup"
    assert [(s["campaign"], s["reason"]) for s in skipped] == [("apex", "funds")]
    await _credit(engine, "15.00")
    assert (await _buyer_of_next_lead(engine))[0] == "apex"  # 5.00 left: short of 10.00
    buyer, skipped = await _buyer_of_next_lead(engine)
    assert buyer == "backup" and skipped[0]["detail"] == "funds left 5.00, price 10.00"
    await keep_books(engine.rt)
    await engine.rt.books.refresh_funds()  # the sale is in the ledger now: the same 5.00 left
    assert (await _buyer_of_next_lead(engine))[0] == "backup"
    funds = await engine.client.get("/api/v1/funds", headers=buyer_key("apex"))
    assert funds.json() == {
        "buyer": "apex",
        "balance": "5.00",
        "credit_limit": "0.00",
        "funds_left": "5.00",
    }


async def test_a_credit_limit_lets_the_balance_go_below_zero(engine: Harness) -> None:
    await _setup(engine, {"credit_limit": "20.00"})
    assert [(await _buyer_of_next_lead(engine))[0] for _ in range(3)] == ["apex", "apex", "backup"]
    await keep_books(engine.rt)
    got = await engine.client.get("/api/v1/admin/balances", headers=ADMIN)
    apex = next(b for b in got.json()["buyers"] if b["buyer"] == "apex")
    assert (apex["balance"], apex["funds_left"]) == ("-20.00", "0.00")
    backup = next(b for b in got.json()["buyers"] if b["buyer"] == "backup")
    assert (backup["credit_limit"], backup["funds_left"]) == (None, None)


async def test_a_bid_over_the_funds_left_is_not_posted(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h, {}, bid=True)
    await _credit(h, "11.00")  # apex bids 12.00
    buyer, skipped = await _buyer_of_next_lead(h)
    assert buyer == "backup"
    assert [s["reason"] for s in skipped if s["campaign"] == "apex"] == ["funds"]


async def test_test_leads_ignore_funds_and_touch_no_balance(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h, {})
    answer = (await h.post_lead(test=True)).json()
    story = await h.timeline(answer["lead_id"])
    assert story["sales"][0]["buyer"] == "apex" and story["ledger"] == []
