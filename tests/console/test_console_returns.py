"""Returns to decide in the console: the pending queue with lead, buyer, reason and age;
approve and reject with the API's own decision and role rules; from the lead's page too.
On SQLite and PostgreSQL, buyers being the simulator over HTTP."""

from __future__ import annotations

import re
from typing import Any

from pingtree.operators import Role
from tests.console.conftest import Harness, Operator, csrf_of, operator
from tests.engine.conftest import ADMIN_TOKEN, sim_buyer
from tests.factories import campaign, document, tier
from tests.operators.conftest import add_operator
from tests.returns.terms import buyer_key, with_terms

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _setup(h: Harness) -> None:
    h.buyers(sim_buyer("apex"))
    doc = document([campaign("apex", h.sim)], [tier("t", "priority", ["apex"])])
    terms = {"returns": {"reasons": ["fraud", "wrong_number"], "offer_again": False}}
    await h.configure(with_terms(doc, buyers={"apex": terms}))


async def _sold_and_returned(h: Harness, reason: str = "wrong_number") -> tuple[str, str]:
    """A lead sold to apex, then returned by apex (waiting for an operator): (lead, return)."""
    answer = (await h.post_lead()).json()
    assert answer["status"] == "sold", answer
    asked = await h.client.post(
        "/api/v1/returns",
        json={"lead_id": answer["lead_id"], "reason": reason, "note": "not the caller's number"},
        headers=buyer_key("apex"),
    )
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "pending"
    return answer["lead_id"], asked.json()["id"]


async def _return(h: Harness, return_id: str) -> dict[str, Any]:
    found = await h.client.get("/api/v1/admin/returns", headers=ADMIN)
    return next(r for r in found.json() if r["id"] == return_id)


def _row(html: str, return_id: str) -> str:
    found = re.search(rf'<tr data-return="{return_id}">(.*?)</tr>', html, re.S)
    assert found is not None, f"no row for return {return_id}"
    return found[1]


async def test_pending_returns_are_listed_with_lead_buyer_reason_and_age(
    engine_clocked: Harness,
) -> None:
    h = engine_clocked
    await _setup(h)
    lead_id, return_id = await _sold_and_returned(h)
    h.rt.clock.advance(3 * 3600 + 20 * 60)  # type: ignore[attr-defined]
    console = await operator(h)
    page = await console.get("/console/returns")
    assert page.status_code == 200
    row = _row(page.text, return_id)
    assert f'href="/console/leads/{lead_id}"' in row and lead_id[:8] in row
    assert "apex" in row and "wrong_number" in row and "not the caller&#39;s number" in row
    assert "3 h 20 min" in row and "10.00" in row
    assert "returns are decided by an operator" in row
    assert 'aria-label="Approve the return of lead' in row
    assert 'href="/console/returns" class="on" aria-current="page"' in page.text  # in the nav


async def test_approving_reverses_the_sale_as_the_api_does(engine: Harness) -> None:
    h = engine
    await _setup(h)
    lead_id, return_id = await _sold_and_returned(h)
    console = await operator(h)
    done = await console.submit(
        f"/console/returns/{return_id}/approve", {"note": "checked"}, opened="/console/returns"
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith("/console/returns?done=Approved")
    decided = await _return(h, return_id)
    assert (decided["status"], decided["decided_by"]) == ("approved", "admin-token")
    assert decided["decision_note"] == "checked" and decided["clawed_back"] == "5.00"
    ledger = (await h.client.get(f"/api/v1/admin/leads/{lead_id}", headers=ADMIN)).json()
    assert {e["kind"] for e in ledger["ledger"]} >= {"return", "clawback"}
    page = await console.get("/console/returns")
    assert "No return is waiting for a decision." in page.text
    assert "approved" in _row(page.text, return_id) and "admin-token" in page.text
    again = await console.submit(
        f"/console/returns/{return_id}/approve", {}, opened="/console/returns"
    )
    assert "failed=" in again.headers["location"] and "already" in again.headers["location"]


async def test_rejecting_needs_a_reason_and_tells_it(engine: Harness) -> None:
    h = engine
    await _setup(h)
    _, return_id = await _sold_and_returned(h)
    console = await operator(h)
    path = f"/console/returns/{return_id}/reject"
    silent = await console.submit(path, {"note": "  "}, opened="/console/returns")
    assert silent.status_code == 303 and "failed=Say%20why" in silent.headers["location"]
    assert (await _return(h, return_id))["status"] == "pending"
    said = await console.submit(path, {"note": "the number works"}, opened="/console/returns")
    assert said.status_code == 303 and "done=Rejected" in said.headers["location"]
    decided = await _return(h, return_id)
    assert (decided["status"], decided["decision_note"]) == ("rejected", "the number works")
    mine = await h.client.get(f"/api/v1/returns/{return_id}", headers=buyer_key("apex"))
    assert mine.json()["status"] == "rejected"  # the buyer sees it


async def test_the_lead_page_shows_its_returns_and_decides_them(engine: Harness) -> None:
    h = engine
    await _setup(h)
    lead_id, return_id = await _sold_and_returned(h, reason="fraud")
    console = await operator(h)
    page = await console.get(f"/console/leads/{lead_id}")
    row = _row(page.text, return_id)
    assert "fraud" in row and "pending" in row and 'name="next" value="lead"' in row
    assert 'href="/console/returns"' in page.text
    done = await console.submit(
        f"/console/returns/{return_id}/approve",
        {"next": "lead"},
        opened=f"/console/leads/{lead_id}",
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"/console/leads/{lead_id}?done=Approved")
    back = await console.get(done.headers["location"])
    assert "approved" in _row(back.text, return_id) and "by admin-token" in back.text
    assert 'name="next" value="lead"' not in back.text  # nothing left to decide


async def test_only_roles_that_decide_returns_see_and_use_the_buttons(engine: Harness) -> None:
    h = engine
    await _setup(h)
    _, return_id = await _sold_and_returned(h)
    analyst = await Operator.login(h.client, await add_operator(h.rt, "ann", Role.ANALYST))
    page = await analyst.get("/console/returns")
    assert page.status_code == 200 and return_id in page.text
    assert "Approve the return" not in page.text
    refused = await analyst.client.post(
        f"/console/returns/{return_id}/approve", data={"csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 403 and "may not do this" in refused.text
    assert (await _return(h, return_id))["status"] == "pending"
    await analyst.client.post("/console/logout", data={"csrf": csrf_of(page.text)})

    otto = await Operator.login(h.client, await add_operator(h.rt, "otto", Role.OPERATOR))
    forged = await otto.client.post(f"/console/returns/{return_id}/approve", data={})
    assert forged.status_code == 403  # no form token: not from a console page
    done = await otto.submit(f"/console/returns/{return_id}/approve", {}, opened="/console/returns")
    assert done.status_code == 303
    assert (await _return(h, return_id))["decided_by"] == "otto"
