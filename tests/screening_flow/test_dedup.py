"""Dedup: the same person within the window, exactly once under concurrency, per buyer too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select

from pingtree.storage.tables import BuyerPurchase, DedupEntry, Lead
from tests.engine.conftest import Harness
from tests.screening_flow.flow import LEAD, codes, person, posts, sha256, two_buyers

NO_CHECKS: dict[str, Any] = {"checks": [], "dedup": {"window_hours": 24}}


@pytest.mark.parametrize("fields", [["email", "phone"], ["email"], ["phone"]])
async def test_fifty_copies_at_once_let_exactly_one_through(
    engine: Harness, fields: list[str]
) -> None:
    h = engine
    await two_buyers(h, screening={"checks": [], "dedup": {"fields": fields}})
    answers = await asyncio.gather(*(h.post_lead(LEAD) for _ in range(50)))

    refused = [a.text for a in answers if a.status_code != 200]
    assert not refused, refused[:2]
    bodies = [a.json() for a in answers]
    sold = [b for b in bodies if b["status"] == "sold"]
    duplicates = [b for b in bodies if b["status"] == "rejected"]
    assert len(sold) == 1 and len(duplicates) == 49, [b["status"] for b in bodies]
    winner = sold[0]["lead_id"]
    for body in duplicates:
        assert codes(body) == ["duplicate"]
        assert winner in body["reasons"][0]["message"]  # names the lead it duplicates
    assert posts(h, "alpha") == 1 and posts(h, "beta") == 0

    async with h.rt.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Lead)) == 50  # all kept
        entries = (await session.scalars(select(DedupEntry))).all()
    assert {e.lead_id for e in entries} == {winner}
    # Stored hashed: SHA-256 of the normalised email and of the phone in E.164.
    identity = {"email": "ada.lovelace@example.com", "phone": "+12127365000"}
    assert {e.person_hash for e in entries} == {sha256(identity[f]) for f in fields}


async def test_after_the_window_the_person_is_accepted_again(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening=NO_CHECKS)  # a 24-hour window
    start = datetime.now(UTC)
    first = (await h.post_lead(LEAD)).json()
    assert first["status"] == "sold"

    with time_machine.travel(start + timedelta(hours=23), tick=True):
        inside = (await h.post_lead(LEAD)).json()
    assert inside["status"] == "rejected" and codes(inside) == ["duplicate"]

    # 25 hours after the first lead: the duplicate at 23 hours did not restart the window.
    with time_machine.travel(start + timedelta(hours=25), tick=True):
        after = (await h.post_lead(LEAD)).json()
        again = (await h.post_lead(LEAD)).json()
    assert after["status"] == "sold"
    assert again["status"] == "rejected" and after["lead_id"] in again["reasons"][0]["message"]
    assert posts(h, "alpha") == 2


async def test_the_same_person_written_differently_is_a_duplicate(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await two_buyers(h, screening=NO_CHECKS)
    first = await h.post_lead(person(1, email="Ada.Lovelace+quotes@gmail.com"))
    assert first.json()["status"] == "sold"
    # Gmail ignores dots, +tags, case and the googlemail.com alias: one mailbox.
    by_email = await h.post_lead(person(2, email="adalovelace@GoogleMail.com"))
    assert codes(by_email.json()) == ["duplicate"]
    # Another email, but the same phone written in E.164.
    by_phone = await h.post_lead(person(3, phone=person(1)["phone"].replace("(212) ", "+1212")))
    assert codes(by_phone.json()) == ["duplicate"]
    someone_else = await h.post_lead(person(4))
    assert someone_else.json()["status"] == "sold"
    assert posts(h, "alpha") == 2


async def test_dedup_fields_choose_what_identifies_a_person(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await two_buyers(h, screening={"checks": [], "dedup": {"fields": ["email"]}})
    assert (await h.post_lead(person(1))).json()["status"] == "sold"
    # Same phone, another email: a different person when only email identifies one.
    other = await h.post_lead(person(2, phone=person(1)["phone"]))
    assert other.json()["status"] == "sold"
    same = await h.post_lead(person(3, email=person(1)["email"]))
    assert codes(same.json()) == ["duplicate"]


async def test_a_rejected_lead_does_not_take_the_window(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await two_buyers(h, screening={"checks": [{"check": "disposable_email"}]})
    bad = (await h.post_lead({**LEAD, "email": "ada@mailinator.com"})).json()
    assert codes(bad) == ["disposable_email"]
    # The same phone with a real email now: the rejected lead claimed nothing.
    good = (await h.post_lead(LEAD)).json()
    assert good["status"] == "sold"


@pytest.mark.parametrize(
    "policy", [{"checks": [], "dedup": {"enabled": False}}, None], ids=["policy", "no-policy"]
)
async def test_a_buyer_is_not_offered_a_person_it_bought_within_its_window(
    engine: Harness, policy: dict[str, Any] | None
) -> None:
    h = engine
    # alpha skips people it bought in the last 30 days; beta takes anyone again.
    await two_buyers(h, screening=policy, dedup_days={"alpha": 30})
    start = datetime.now(UTC)
    first = (await h.post_lead(LEAD)).json()
    assert first["status"] == "sold"
    assert (await h.timeline(first["lead_id"]))["sales"][0]["buyer"] == "alpha"

    with time_machine.travel(start + timedelta(days=29), tick=True):
        # The same person, email in capitals and phone in another format.
        same = {**LEAD, "email": LEAD["email"].upper(), "phone": "212.736.5000"}
        second = (await h.post_lead(same)).json()
    assert second["status"] == "sold"
    story = await h.timeline(second["lead_id"])
    assert [s["buyer"] for s in story["sales"]] == ["beta"]
    [skip] = [s for s in story["skipped"] if s["campaign"] == "alpha"]
    assert skip["reason"] == "blocked"
    assert "duplicate" in skip["detail"] and "30 days" in skip["detail"]
    assert story["screening"]["blocked_buyers"] == {"alpha": skip["detail"]}
    assert posts(h, "alpha") == 1 and posts(h, "beta") == 1

    # 31 days after alpha bought: alpha may have the person again.
    with time_machine.travel(start + timedelta(days=31), tick=True):
        third = (await h.post_lead(LEAD)).json()
    assert [s["buyer"] for s in (await h.timeline(third["lead_id"]))["sales"]] == ["alpha"]
    assert posts(h, "alpha") == 2 and posts(h, "beta") == 1

    async with h.rt.sessions() as session:
        bought = (await session.scalars(select(BuyerPurchase))).all()
    assert {(b.buyer, b.person_hash) for b in bought} == {
        (buyer, sha256(value))
        for buyer in ("alpha", "beta")
        for value in ("ada.lovelace@example.com", "+12127365000")
    }


async def test_a_buyer_blocked_everywhere_leaves_the_lead_unsold(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await two_buyers(h, dedup_days={"alpha": 30, "beta": 30})
    assert (await h.post_lead(LEAD)).json()["status"] == "sold"
    assert (await h.post_lead(LEAD)).json()["status"] == "sold"  # beta's turn
    third = (await h.post_lead(LEAD)).json()
    assert third["status"] == "unsold" and codes(third) == ["no_eligible_buyer"]
    skipped = (await h.timeline(third["lead_id"]))["skipped"]
    assert {(s["campaign"], s["reason"]) for s in skipped} == {
        ("alpha", "blocked"),
        ("beta", "blocked"),
    }
    assert posts(h, "alpha") == 1 and posts(h, "beta") == 1


async def test_a_test_lead_is_screened_but_claims_no_one(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening=NO_CHECKS, dedup_days={"alpha": 30})
    # A publisher wiring up its form sends a real person as a test lead first.
    trial = (await h.post_lead(LEAD, test=True)).json()
    assert trial["status"] == "sold" and trial["test"] is True
    # The real lead must not be turned away as a duplicate of the test, nor skip alpha.
    real = (await h.post_lead(LEAD)).json()
    assert real["status"] == "sold", real
    assert [s["buyer"] for s in (await h.timeline(real["lead_id"]))["sales"]] == ["alpha"]
    # A test of a person already taken answers what the real lead would get.
    again = (await h.post_lead(LEAD, test=True)).json()
    assert again["status"] == "rejected" and codes(again) == ["duplicate"]


async def test_a_buyer_buys_a_person_once_however_many_copies_come_at_once(
    engine: Harness,
) -> None:
    h = engine
    # Vertical dedup off: every copy is routed; alpha (first) keeps people for 30 days.
    await two_buyers(
        h, screening={"checks": [], "dedup": {"enabled": False}}, dedup_days={"alpha": 30}
    )
    answers = [a.json() for a in await asyncio.gather(*(h.post_lead(LEAD) for _ in range(20)))]

    assert [a["status"] for a in answers] == ["sold"] * 20
    buyers = [(await h.timeline(a["lead_id"]))["sales"][0]["buyer"] for a in answers]
    assert sorted(buyers) == ["alpha"] + ["beta"] * 19
    assert posts(h, "alpha") == 1 and posts(h, "beta") == 19  # alpha was never even offered
    async with h.rt.sessions() as session:
        bought = (
            await session.scalars(select(BuyerPurchase).where(BuyerPurchase.buyer == "alpha"))
        ).all()
    [alpha_lead] = [a["lead_id"] for a, b in zip(answers, buyers, strict=True) if b == "alpha"]
    assert {b.lead_id for b in bought} == {alpha_lead} and len(bought) == 2  # email and phone


async def test_a_buyer_that_turns_the_person_down_may_be_offered_them_again(
    engine_sqlite: Harness,
) -> None:
    h = engine_sqlite
    await two_buyers(h, dedup_days={"alpha": 30})
    h.sim.buyer("alpha").accept_rate = 0.0
    first = (await h.post_lead(LEAD)).json()
    assert [s["buyer"] for s in (await h.timeline(first["lead_id"]))["sales"]] == ["beta"]
    # alpha's claim on the person was given back when it rejected the post.
    h.sim.buyer("alpha").accept_rate = 1.0
    second = (await h.post_lead(LEAD)).json()
    assert [s["buyer"] for s in (await h.timeline(second["lead_id"]))["sales"]] == ["alpha"]
    assert posts(h, "alpha") == 2 and posts(h, "beta") == 1
