"""Postbacks: queued with the lead's events, signed, retried with backoff, each try logged."""

from __future__ import annotations

from typing import Any

from pingtree.delivery.signing import verify
from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier
from tests.postbacks.receiver import Receiver, receiver
from tests.reporting.books import keep_books
from tests.returns.terms import with_terms

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _setup(h: Harness, hooks: Receiver, **postback: Any) -> None:
    h.buyers(sim_buyer("apex"))
    doc = document(
        [campaign("apex", h.sim)],
        [tier("t", "priority", ["apex"])],
        screening={"checks": [{"check": "zip_state_mismatch"}], "dedup": {"enabled": False}},
    )
    hook = {"url": hooks.to("/pub"), **postback}
    await h.configure(with_terms(doc, publisher={"postback": hook}))


async def _postbacks(h: Harness, **params: Any) -> list[dict[str, Any]]:
    got = await h.client.get("/api/v1/admin/postbacks", params=params, headers=ADMIN)
    assert got.status_code == 200, got.text
    found: list[dict[str, Any]] = got.json()
    return found


async def test_a_failed_postback_is_tried_again_later(engine_clocked: Harness) -> None:
    h = engine_clocked
    async with receiver() as hooks:
        await _setup(h, hooks, secret="s3cret-s3cret")
        hooks.answers = [500, 503]
        lead_id = (await h.post_lead()).json()["lead_id"]
        await keep_books(h.rt, send=True)
        (first,) = await _postbacks(h, lead_id=lead_id)
        assert (first["status"], first["attempts"]) == ("pending", 1)
        assert first["deliveries"][0]["status_code"] == 500
        await keep_books(h.rt, send=True)
        assert len(hooks.received) == 1  # not due again yet
        h.rt.clock.advance(30)  # type: ignore[attr-defined]
        await keep_books(h.rt, send=True)
        h.rt.clock.advance(59)  # type: ignore[attr-defined]
        await keep_books(h.rt, send=True)
        assert len(hooks.received) == 2  # the second wait is twice the first
        h.rt.clock.advance(1)  # type: ignore[attr-defined]
        await keep_books(h.rt, send=True)
        (done,) = await _postbacks(h, lead_id=lead_id)
        assert done["status"] == "delivered"
        assert [d["status_code"] for d in done["deliveries"]] == [500, 503, 200]
        assert {r.headers["X-Pingtree-Postback"] for r in hooks.received} == {done["id"]}
        for call in hooks.received:
            verify(
                "s3cret-s3cret",
                call.body,
                call.headers["X-Pingtree-Signature"],
                h.rt.clock.now(),
            )


async def test_out_of_tries_it_fails_and_an_operator_retries(engine_clocked: Harness) -> None:
    h = engine_clocked
    async with receiver() as hooks:
        await _setup(h, hooks)
        h.rt.books.sender.max_tries = 2
        hooks.answers = [500, 500]
        await h.post_lead()
        await keep_books(h.rt, send=True)
        h.rt.clock.advance(30)  # type: ignore[attr-defined]
        await keep_books(h.rt, send=True)
        (failed,) = await _postbacks(h, status="failed")
        assert failed["attempts"] == 2
        retried = await h.client.post(
            f"/api/v1/admin/postbacks/{failed['id']}/retry", headers=ADMIN
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "pending"
        await keep_books(h.rt, send=True)
        (done,) = await _postbacks(h)
        assert done["status"] == "delivered" and len(done["deliveries"]) == 3
        again = await h.client.post(f"/api/v1/admin/postbacks/{failed['id']}/retry", headers=ADMIN)
        assert again.status_code == 404


async def test_review_decisions_are_posted_back(engine: Harness) -> None:
    h = engine
    async with receiver() as hooks:
        await _setup(h, hooks, events=["review"])
        held = [
            (await h.post_lead({**LEAD_FIELDS, "zip": "90210"})).json()  # not in NY: review
            for _ in range(2)
        ]
        assert [a["status"] for a in held] == ["review", "review"]
        approve, reject = (a["lead_id"] for a in held)
        got = await h.client.post(f"/api/v1/admin/review/{approve}/approve", headers=ADMIN)
        assert got.json()["status"] == "sold"
        await h.client.post(
            f"/api/v1/admin/review/{reject}/reject", json={"reason": "fake"}, headers=ADMIN
        )
        await keep_books(h.rt, send=True)
        calls = {r.json["lead_id"]: r.json for r in hooks.received}
        assert set(calls) == {approve, reject}  # no sale postback: only review was asked for
        assert (calls[approve]["decision"], calls[approve]["status"]) == ("approved", "sold")
        assert (calls[reject]["decision"], calls[reject]["status"]) == ("rejected", "rejected")


async def test_a_postback_whose_endpoint_is_gone_fails(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    async with receiver() as hooks:
        await _setup(h, hooks)
        await h.post_lead()
        await keep_books(h.rt)  # queued, not sent
        await _setup_without_postback(h)
        await keep_books(h.rt, send=True)
        (gone,) = await _postbacks(h)
        assert gone["status"] == "failed"
        assert "no postback" in gone["deliveries"][0]["error"]
        assert hooks.received == []


async def _setup_without_postback(h: Harness) -> None:
    await h.configure(
        document(
            [campaign("apex", h.sim)],
            [tier("t", "priority", ["apex"])],
        )
    )


async def test_an_unreachable_endpoint_is_logged_and_retried(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    async with receiver() as hooks:
        closed = hooks.url
    h.buyers(sim_buyer("apex"))
    doc = document([campaign("apex", h.sim)], [tier("t", "priority", ["apex"])])
    await h.configure(with_terms(doc, publisher={"postback": {"url": f"{closed}/pub"}}))
    answer = (await h.post_lead()).json()
    assert answer["status"] == "sold", answer  # a sale is what the publisher is told of
    await keep_books(h.rt, send=True)
    (down,) = await _postbacks(h)
    assert down["status"] == "pending"
    assert down["deliveries"][0]["status_code"] is None
    assert down["deliveries"][0]["error"]
