"""An uncertain sale settled by an operator is booked in the ledger, by that operator, and
counted in the reports."""

from __future__ import annotations

from tests.engine.conftest import Harness, sim_buyer
from tests.recovery.test_settle import ADMIN, _cut_while_at_buyer, _recover, _setup
from tests.reporting.books import keep_books


async def test_an_uncertain_sale_settled_as_sold_is_booked(engine: Harness) -> None:
    h = engine
    await _setup(h)
    lead_id = await _cut_while_at_buyer(h)
    await _recover(h)
    h.buyers(sim_buyer("slow"), sim_buyer("overflow"))
    [post] = (await h.client.get("/api/v1/admin/uncertain", headers=ADMIN)).json()
    settled = await h.client.post(
        f"/api/v1/admin/uncertain/{post['reservation_id']}", json={"sold": True}, headers=ADMIN
    )
    assert settled.status_code == 200, settled.text
    await keep_books(h.rt)
    story = await h.timeline(lead_id)
    assert [(e["kind"], e["amount"], e["actor"]) for e in story["ledger"]] == [
        ("sale", "20.00", "admin-token"),
        ("payout", "10.00", "admin-token"),
    ]
    assert story["ledger"][0]["memo"] == "an uncertain post reconciled as sold"
    assert story["sales"][0]["payout"] == "10.00"
    day = h.rt.clock.now().date().isoformat()
    got = await h.client.get(
        "/api/v1/admin/reports/publishers",
        params={"start": day, "end": day, "by": "total"},
        headers=ADMIN,
    )
    (row,) = got.json()["rows"]
    assert (row["sent"], row["uncertain"], row["sold"], row["payout"]) == (1, 0, 1, "10.00")
    campaigns = await h.client.get(
        "/api/v1/admin/reports/campaigns",
        params={"start": day, "end": day, "by": "total"},
        headers=ADMIN,
    )
    (slow,) = [r for r in campaigns.json()["rows"] if r["campaign"] == "slow"]
    assert (slow["posted"], slow["sold"], slow["revenue"]) == (1, 1, "20.00")


async def test_an_uncertain_sale_settled_as_not_sold_moves_the_count(engine: Harness) -> None:
    h = engine
    await _setup(h)
    await _cut_while_at_buyer(h)
    await _recover(h)
    h.buyers(sim_buyer("slow"), sim_buyer("overflow"))
    [post] = (await h.client.get("/api/v1/admin/uncertain", headers=ADMIN)).json()
    await h.client.post(
        f"/api/v1/admin/uncertain/{post['reservation_id']}", json={"sold": False}, headers=ADMIN
    )
    await keep_books(h.rt)
    day = h.rt.clock.now().date().isoformat()
    got = await h.client.get(
        "/api/v1/admin/reports/publishers",
        params={"start": day, "end": day, "by": "total"},
        headers=ADMIN,
    )
    (row,) = got.json()["rows"]
    assert (row["sent"], row["uncertain"], row["unsold"], row["sold"]) == (1, 0, 1, 0)
    assert row["unsold_by_reason"] == {"not_sold": 1}
