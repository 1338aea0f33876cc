"""Operators book credits, payments and adjustments: admins only, accounts that exist."""

from __future__ import annotations

from typing import Any

from pingtree.config.document import ConfigDocument
from pingtree.operators import Role
from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import campaign, document, tier
from tests.operators.conftest import add_operator
from tests.reporting.books import keep_books

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _setup(h: Harness) -> None:
    h.buyers(sim_buyer("apex"))
    await h.configure(document([campaign("apex", h.sim)], [tier("t", "priority", ["apex"])]))


async def _post(
    h: Harness, path: str, body: dict[str, Any], headers: dict[str, str] = ADMIN
) -> Any:
    return await h.client.post(f"/api/v1/admin/ledger/{path}", json=body, headers=headers)


async def test_a_publisher_is_paid_what_it_earned(engine: Harness) -> None:
    h = engine
    await _setup(h)
    for _ in range(3):
        assert (await h.post_lead()).json()["payout"] == "5.00"
    await keep_books(h.rt)  # the sales reach the ledger as their lead events are rolled
    paid = await _post(h, "payments", {"publisher": "pub", "amount": "12.50", "memo": "ACH 7"})
    assert paid.status_code == 201, paid.text
    (entry,) = paid.json()
    assert (entry["kind"], entry["debit"], entry["credit"], entry["actor"]) == (
        "payment",
        "publisher:pub",
        "cash",
        "admin-token",
    )
    got = (await h.client.get("/api/v1/admin/balances", headers=ADMIN)).json()
    assert got["publishers"] == [{"publisher": "pub", "payable": "2.50"}]
    assert got["house"] == {"revenue": "30.00", "payouts": "-15.00", "cash": "12.50"}
    listed = await h.client.get(
        "/api/v1/admin/ledger", params={"account": "publisher:pub"}, headers=ADMIN
    )
    assert [e["kind"] for e in listed.json()] == ["payment", "payout", "payout", "payout"]


async def test_an_adjustment_needs_known_accounts_and_a_memo(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h)
    bad = await _post(
        h, "adjustments", {"debit": "revenue", "credit": "buyer:apexx", "amount": "5"}
    )
    assert bad.status_code == 422  # no memo
    bad = await _post(
        h,
        "adjustments",
        {"debit": "revenue", "credit": "buyer:apexx", "amount": "5", "memo": "goodwill"},
    )
    assert bad.status_code == 422
    assert bad.json()["reasons"][0]["field"] == "credit"
    assert "no account 'buyer:apexx'" in bad.json()["reasons"][0]["message"]
    same = await _post(
        h, "adjustments", {"debit": "cash", "credit": "cash", "amount": "5", "memo": "x"}
    )
    assert same.status_code == 422
    zero = await _post(h, "credits", {"buyer": "apex", "amount": "0"})
    assert zero.status_code == 422
    good = await _post(
        h,
        "adjustments",
        {"debit": "revenue", "credit": "buyer:apex", "amount": "5", "memo": "goodwill"},
    )
    assert good.status_code == 201 and good.json()[0]["memo"] == "goodwill"


async def test_only_admins_book_money(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await _setup(h)
    for role in (Role.OPERATOR, Role.ANALYST):
        token = await add_operator(h.rt, f"{role.value}-1", role)
        got = await _post(
            h,
            "credits",
            {"buyer": "apex", "amount": "5.00"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert got.status_code == 403
        assert got.json()["reasons"][0]["code"] == "forbidden_for_role"
    reader = await add_operator(h.rt, "reader", Role.ANALYST)
    got = await h.client.get(
        "/api/v1/admin/balances", headers={"Authorization": f"Bearer {reader}"}
    )
    assert got.status_code == 200


async def test_a_payment_booked_again_with_its_reference_is_booked_once(engine: Harness) -> None:
    # The operator's client timed out and sent the payment again (or ran the script twice).
    h = engine
    await _setup(h)
    body = {"publisher": "pub", "amount": "12.50", "memo": "ACH", "reference": "ACH-2026-0042"}
    first = await _post(h, "payments", body)
    assert first.status_code == 201, first.text
    again = await _post(h, "payments", body)
    assert again.status_code == 200, again.text
    assert again.json() == first.json() and first.json()[0]["reference"] == "ACH-2026-0042"
    other = await _post(h, "payments", {**body, "amount": "125.00"})
    assert other.status_code == 409
    assert [(r["code"], r["field"]) for r in other.json()["reasons"]] == [
        ("reference_used", "reference")
    ]
    # The same reference is another kind's own: a credit may carry it too.
    credit = {"buyer": "apex", "amount": "50.00", "reference": "ACH-2026-0042"}
    assert (await _post(h, "credits", credit)).status_code == 201
    got = (await h.client.get("/api/v1/admin/balances", headers=ADMIN)).json()
    assert got["publishers"] == [{"publisher": "pub", "payable": "-12.50"}]  # paid once
    assert got["house"]["cash"] == "-37.50"


async def test_one_credit_sent_many_times_at_once_is_booked_once(engine: Harness) -> None:
    import asyncio

    h = engine
    await _setup(h)
    body = {"buyer": "apex", "amount": "100.00", "reference": "wire-7"}
    answers = await asyncio.gather(*(_post(h, "credits", body) for _ in range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 7 + [201], [a.text for a in answers]
    assert len({a.json()[0]["id"] for a in answers}) == 1
    got = (await h.client.get("/api/v1/admin/balances", headers=ADMIN)).json()
    assert [b["balance"] for b in got["buyers"] if b["buyer"] == "apex"] == ["100.00"]


async def test_a_publisher_removed_from_the_configuration_is_paid_what_it_is_still_owed(
    engine: Harness,
) -> None:
    h = engine
    await _setup(h)
    assert (await h.post_lead()).json()["payout"] == "5.00"
    await keep_books(h.rt)
    removed = h.rt.catalog.document.model_dump(mode="json", exclude_none=True)
    await h.configure(ConfigDocument.model_validate({**removed, "publishers": [], "routes": []}))
    paid = await _post(h, "payments", {"publisher": "pub", "amount": "5.00", "memo": "ACH 8"})
    assert paid.status_code == 201, paid.text
    got = (await h.client.get("/api/v1/admin/balances", headers=ADMIN)).json()
    assert got["publishers"] == [{"publisher": "pub", "payable": "0.00"}]
    never = await _post(h, "payments", {"publisher": "pubb", "amount": "5.00", "memo": "x"})
    assert never.status_code == 422  # an account the ledger never kept: a typo
