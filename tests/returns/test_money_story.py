"""One lead's whole money story on each database: sale, payout, return, clawback, cap room,
report lines and postback deliveries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pingtree.delivery.signing import verify
from pingtree.ledger.balances import balances
from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import campaign, document, tier
from tests.postbacks.receiver import receiver
from tests.reporting.books import keep_books
from tests.returns.terms import buyer_key, with_terms

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET = "postback-secret-0123456789"


async def _admin(h: Harness, method: str, path: str, **kw: Any) -> Any:
    got = await h.client.request(method, f"/api/v1/admin{path}", headers=ADMIN, **kw)
    assert got.status_code < 300, got.text
    return got.json()


async def test_a_sale_returned_and_clawed_back(engine_clocked: Harness) -> None:
    h = engine_clocked
    async with receiver() as hooks:
        h.buyers(sim_buyer("apex"))
        doc = document(
            [campaign("apex", h.sim, price="10.00", caps={"daily": 1})],
            [tier("t", "priority", ["apex"])],
        )
        await h.configure(
            with_terms(
                doc,
                buyers={
                    "apex": {
                        "returns": {"window_days": 7, "claw_back": True, "free_cap": True},
                        "webhook": {"url": hooks.to("/apex")},
                    }
                },
                publisher={"postback": {"url": hooks.to("/pub"), "secret": SECRET}},
            )
        )
        sold = (await h.post_lead()).json()
        lead_id = sold["lead_id"]
        assert (sold["status"], sold.get("payout")) == ("sold", "5.00"), sold
        capped = (await h.post_lead()).json()
        assert capped["status"] == "unsold"  # apex's one daily lead is taken

        # the sale's postback, signed like outbound posts
        kept = await keep_books(h.rt, send=True)
        assert kept.postbacks == 1
        (sale,) = hooks.received
        assert (sale.path, sale.json["event"], sale.json["payout"]) == ("/pub", "sale", "5.00")
        assert sale.json["lead_id"] == lead_id
        verify(SECRET, sale.body, sale.headers["X-Pingtree-Signature"], h.rt.clock.now())

        # the buyer returns it; an operator approves
        asked = await h.client.post(
            "/api/v1/returns",
            json={"lead_id": lead_id, "reason": "wrong_number"},
            headers=buyer_key("apex"),
        )
        assert asked.status_code == 201, asked.text
        assert asked.json()["status"] == "pending"
        assert asked.json()["held_because"] == "returns are decided by an operator"
        pending = await _admin(h, "GET", "/returns?status=pending")
        assert [r["lead_id"] for r in pending] == [lead_id]
        approved = await _admin(h, "POST", f"/returns/{pending[0]['id']}/approve")
        assert (approved["status"], approved["clawed_back"], approved["cap_freed"]) == (
            "approved",
            "5.00",
            True,
        )
        assert approved["decided_by"] == "admin-token"

        # the ledger: sale and payout, then their reversal
        story = await h.timeline(lead_id)
        assert [(e["kind"], e["debit"], e["credit"], e["amount"]) for e in story["ledger"]] == [
            ("sale", "buyer:apex", "revenue", "10.00"),
            ("payout", "payouts", "publisher:pub", "5.00"),
            ("return", "revenue", "buyer:apex", "10.00"),
            ("clawback", "publisher:pub", "payouts", "5.00"),
        ]
        assert story["ledger"][1]["rule"] == {"type": "revenue_share", "percent": "50"}
        assert [r["status"] for r in story["returns"]] == ["approved"]
        async with h.rt.engine.connect() as conn:
            found = await balances(conn)
        assert found["buyer:apex"] == found["publisher:pub"] == Decimal("0.00")
        assert sum(found.values()) == 0  # every entry has two sides

        # postbacks of the decision: the publisher's clawback, the buyer's webhook
        await keep_books(h.rt, send=True)
        calls = {(r.path, r.json["event"]): r.json for r in hooks.received[1:]}
        assert calls[("/pub", "return")]["clawed_back"] == "5.00"
        assert calls[("/apex", "return")]["decision"] == "approved"
        story = await h.timeline(lead_id)
        assert sorted((p["event"], p["status"]) for p in story["postbacks"]) == [
            ("return", "delivered"),
            ("return", "delivered"),
            ("sale", "delivered"),
        ]
        assert all(p["deliveries"][0]["status_code"] == 200 for p in story["postbacks"])

        # the cap room came back: the next lead sells
        assert (await h.post_lead()).json()["status"] == "sold"
        await keep_books(h.rt)

    day = h.rt.clock.now().date().isoformat()
    report = await _admin(h, "GET", f"/reports/campaigns?start={day}&end={day}&by=total")
    (row,) = report["rows"]
    assert (row["sold"], row["returns"], row["revenue"], row["returned"]) == (
        2,
        1,
        "20.00",
        "10.00",
    )
    assert (row["net_revenue"], row["clawed_back"], row["margin"]) == ("10.00", "5.00", "5.00")
    pubs = await _admin(h, "GET", f"/reports/publishers?start={day}&end={day}&by=total")
    (pub,) = pubs["rows"]
    assert (pub["sent"], pub["sold"], pub["unsold"], pub["returned"]) == (3, 2, 1, 1)
    assert (pub["net_payout"], pub["profit"]) == ("5.00", "5.00")
