"""A lead's money story on its console page: the sale, its ledger entries, its return and
every try of its postbacks and webhooks, as the admin API's lead story tells them. On SQLite
and PostgreSQL, the buyer being the simulator over HTTP."""

from __future__ import annotations

import re

from tests.console.conftest import Harness, operator
from tests.engine.conftest import ADMIN_TOKEN, sim_buyer
from tests.factories import campaign, document, tier
from tests.postbacks.receiver import receiver
from tests.reporting.books import keep_books
from tests.returns.terms import buyer_key, with_terms

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _table(html: str, table_id: str) -> str:
    found = re.search(
        rf'<div class="scroll"><table id="{table_id}">(.*?)</table></div>', html, re.S
    )
    assert found is not None, f"no table {table_id} in a scroll box"
    return found[1]


def _rows(table: str) -> list[str]:
    body = table.split("<tbody>", 1)[1]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in re.findall(r"<tr.*?</tr>", body, re.S)
    ]


async def test_a_sold_and_returned_lead_shows_its_ledger_return_and_postbacks(
    engine_clocked: Harness,
) -> None:
    h = engine_clocked
    async with receiver() as hooks:
        hooks.answers = [503]  # the publisher's sale postback fails once
        h.buyers(sim_buyer("apex"))
        doc = document([campaign("apex", h.sim, price="10.00")], [tier("t", "priority", ["apex"])])
        await h.configure(
            with_terms(
                doc,
                buyers={"apex": {"returns": {"reasons": ["wrong_number"]}}},
                publisher={"postback": {"url": hooks.to("/pub"), "secret": "s" * 24}},
            )
        )
        sold = (await h.post_lead()).json()
        lead_id = sold["lead_id"]
        assert sold["status"] == "sold", sold
        await keep_books(h.rt, send=True)
        asked = await h.client.post(
            "/api/v1/returns",
            json={"lead_id": lead_id, "reason": "wrong_number", "note": "nobody by that name"},
            headers=buyer_key("apex"),
        )
        assert asked.status_code == 201, asked.text

    story = (await h.client.get(f"/api/v1/admin/leads/{lead_id}", headers=ADMIN)).json()
    console = await operator(h)
    page = await console.get(f"/console/leads/{lead_id}")
    assert page.status_code == 200
    html = page.text

    assert "10.00" in _rows(_table(html, "sales"))[0]
    ledger = _rows(_table(html, "lead-ledger"))
    assert [e["kind"] for e in story["ledger"]] == ["sale", "payout"]
    assert len(ledger) == len(story["ledger"])
    for row, entry in zip(ledger, story["ledger"], strict=True):
        assert row.startswith(entry["kind"])
        assert f"{entry['debit']} → {entry['credit']}" in row
        assert entry["amount"] in row
        assert "engine" in row  # booked by the engine's own sale, not a person
        assert "2026-11-25" in row
    assert "buyer:apex → revenue" in ledger[0] and "10.00" in ledger[0]
    assert "payouts → publisher:pub" in ledger[1]

    (returned,) = _rows(_table(html, "lead-returns"))
    assert "apex" in returned and "wrong_number" in returned and "pending" in returned
    assert "nobody by that name" in returned

    (postback,) = story["postbacks"]
    (tried,) = _rows(_table(html, "lead-postbacks"))
    assert "publisher pub" in tried and "sale" in tried and postback["status"] in tried
    assert "HTTP 503" in tried and "ok" in tried  # the answer's excerpt
    assert postback["status"] == "pending"
    assert postback["next_at"][:10] in tried  # when it is tried next
