"""Recovery settles leads whose routing was cut short; the operator resolves uncertain posts.

The cut is made in-process: the request is cancelled while its post waits at the buyer,
so nothing after the post runs, as in a crash. (The SIGKILL tests are in test_crash.py.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from typer.testing import CliRunner, Result

from pingtree.cli import app
from pingtree.recovery import service as recovery
from pingtree.storage.tables import Sale
from tests.conftest import migrated_database
from tests.engine.conftest import ADMIN_TOKEN, Harness, _harness, sim_buyer
from tests.factories import campaign, document, tier
from tests.recovery.books import read_books
from tests.reporting.books import keep_books

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _setup(h: Harness, *, hang_on: str = "post") -> None:
    h.buyers(sim_buyer("slow", hang_rate=1.0), sim_buyer("overflow"))
    slow = campaign("slow", h.sim, price="20.00", caps={"daily": 1}, timeout_ms=60_000)
    if hang_on == "ping":
        slow = campaign(
            "slow", h.sim, price="20.00", caps={"daily": 1}, timeout_ms=60_000, ping=True
        )
    await h.configure(
        document(
            [slow, campaign("overflow", h.sim, price="1.00")],
            [tier("t1", "priority", ["slow"]), tier("t2", "priority", ["overflow"])],
            tree={"max_processing_ms": 60_000},
        )
    )


async def _cut_while_at_buyer(h: Harness, kind: str = "post", **post: Any) -> str:
    """Post a lead and cut its routing once the buyer holds its request; the lead id."""
    request = asyncio.create_task(h.post_lead(**post))
    for _ in range(500):
        received = [r for r in h.sim.received("slow") if r.kind == kind]
        if received:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the buyer never got the lead")
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    lead_id: str = received[-1].body["lead_id"]
    return lead_id


async def _recover(h: Harness) -> recovery.Settled:
    return await recovery.settle_interrupted(
        engine=h.rt.engine, clock=h.rt.clock, older_than=timedelta(0), skip=h.rt.in_flight
    )


async def _admin(h: Harness, method: str, path: str, **kw: Any) -> httpx.Response:
    return await h.client.request(method, f"/api/v1/admin{path}", headers=ADMIN, **kw)


async def test_a_post_cut_off_becomes_uncertain_and_keeps_its_cap_room(engine: Harness) -> None:
    await _setup(engine)
    lead_id = await _cut_while_at_buyer(engine)
    stuck = (await engine.timeline(lead_id))["status"]
    assert stuck == "received"  # without recovery it would stay so forever

    settled = await _recover(engine)
    assert settled == recovery.Settled(interrupted=0, uncertain=1, orphans=0)
    story = await engine.timeline(lead_id)
    assert story["status"] == "uncertain"
    assert [r["code"] for r in story["reasons"]] == ["uncertain"]
    listed = (await _admin(engine, "GET", "/uncertain")).json()
    assert [(p["lead_id"], p["campaign"], p["buyer"], p["price"]) for p in listed] == [
        (lead_id, "slow", "slow", "20.00")
    ]
    # The uncertain post holds slow's only daily slot: the next lead goes to overflow.
    engine.buyers(sim_buyer("slow"), sim_buyer("overflow"))
    assert (await engine.post_lead()).json()["status"] == "sold"
    assert len([r for r in engine.sim.received("slow") if r.kind == "post"]) == 0
    books = await read_books(engine.rt.engine, "slow")
    assert books.counter == 1 and books.uncertain == {lead_id} and books.sold == set()


async def test_resolved_as_sold_books_the_sale_at_the_posted_price(engine: Harness) -> None:
    await _setup(engine)
    lead_id = await _cut_while_at_buyer(engine)
    await _recover(engine)
    [post] = (await _admin(engine, "GET", "/uncertain")).json()

    answer = await _admin(
        engine, "POST", f"/uncertain/{post['reservation_id']}", json={"sold": True}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["lead_status"] == "sold"
    story = await engine.timeline(lead_id)
    assert story["status"] == "sold"
    assert (story["revenue"], story["payout"]) == ("20.00", "10.00")  # 50% revenue share
    async with engine.rt.sessions() as session:
        sale = await session.scalar(select(Sale).where(Sale.lead_id == lead_id))
    assert sale is not None and (sale.campaign, sale.price) == ("slow", Decimal("20.00"))
    books = await read_books(engine.rt.engine, "slow")
    assert books.counter == 1 and books.sold == {lead_id} and books.open_holds == 0
    assert (await _admin(engine, "GET", "/uncertain")).json() == []
    again = await _admin(
        engine, "POST", f"/uncertain/{post['reservation_id']}", json={"sold": True}
    )
    assert again.status_code == 404  # resolved once only


async def test_resolved_as_not_sold_gives_the_cap_room_back(engine: Harness) -> None:
    await _setup(engine)
    lead_id = await _cut_while_at_buyer(engine)
    await _recover(engine)
    [post] = (await _admin(engine, "GET", "/uncertain")).json()

    answer = await _admin(
        engine, "POST", f"/uncertain/{post['reservation_id']}", json={"sold": False}
    )
    assert answer.json()["lead_status"] == "unsold"
    story = await engine.timeline(lead_id)
    assert story["status"] == "unsold" and story["revenue"] == "0.00"
    books = await read_books(engine.rt.engine, "slow")
    assert books.counter == 0 and books.open_holds == 0 and books.sold == set()


async def test_a_lead_cut_off_before_any_post_ends_unsold_interrupted(engine: Harness) -> None:
    await _setup(engine, hang_on="ping")
    lead_id = await _cut_while_at_buyer(engine, kind="ping")
    settled = await _recover(engine)
    assert settled.interrupted == 1 and settled.uncertain == 0
    story = await engine.timeline(lead_id)
    assert story["status"] == "unsold"
    assert [r["code"] for r in story["reasons"]] == ["interrupted"]
    assert (await _admin(engine, "GET", "/uncertain")).json() == []


async def test_recovery_leaves_leads_this_process_is_still_routing(engine: Harness) -> None:
    await _setup(engine)
    request = asyncio.create_task(engine.post_lead())
    while not [r for r in engine.sim.received("slow") if r.kind == "post"]:
        await asyncio.sleep(0.01)
    assert await _recover(engine) == recovery.Settled()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request


async def test_idempotency_key_retry_after_recovery_gets_the_final_answer(engine: Harness) -> None:
    await _setup(engine)
    key = {"Idempotency-Key": "retry-after-crash"}
    lead_id = await _cut_while_at_buyer(engine, headers=key)
    engine.rt.settings.idempotency_wait_s = 0.5
    before = await engine.post_lead(headers=key)
    assert before.status_code == 409  # still being routed, as far as anyone can tell
    await _recover(engine)
    after = await engine.post_lead(headers=key)
    assert after.status_code == 200, after.text
    assert (after.json()["lead_id"], after.json()["status"]) == (lead_id, "uncertain")


async def test_the_cli_lists_and_resolves_uncertain_posts(
    engine: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _setup(engine)
    lead_id = await _cut_while_at_buyer(engine)
    await _recover(engine)
    monkeypatch.setenv("PINGTREE_DATABASE_URL", engine.rt.settings.database)
    runner = CliRunner()

    def pingtree(*args: str) -> Result:
        return runner.invoke(app, list(args))

    listed = await asyncio.to_thread(pingtree, "uncertain", "list")
    assert listed.exit_code == 0, listed.output
    [line, total] = listed.output.splitlines()
    assert f"lead {lead_id}  slow (slow)  20.00" in line and total == "1 uncertain post(s)"
    reservation_id = line.split()[0]
    done = await asyncio.to_thread(pingtree, "uncertain", "resolve", reservation_id, "--not-sold")
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"lead {lead_id} is now unsold"
    again = await asyncio.to_thread(pingtree, "uncertain", "resolve", reservation_id, "--sold")
    assert again.exit_code == 1 and "no uncertain post" in again.output
    books = await read_books(engine.rt.engine, "slow")
    assert books.counter == 0 and books.open_holds == 0


async def test_recovery_waits_out_the_longest_tree_and_the_record_retries(
    engine_sqlite: Harness,
) -> None:
    await _setup(engine_sqlite)  # a 60 s tree
    settings = engine_sqlite.rt.settings
    settings.interrupted_after_s = 40.0
    assert settings.interrupted_after_s < 60 + settings.record_retry_s
    assert engine_sqlite.rt.interrupted_after_s() >= 60 + settings.record_retry_s


@pytest.mark.parametrize("sold", [True, False])
async def test_resolving_an_uncertain_post_settles_the_buyers_claim_on_the_person(
    engine: Harness, sold: bool
) -> None:
    # The buyer buys a person once in 30 days: the claim taken before the cut-off post is
    # a purchase if the post is resolved sold, and freed if it is resolved not sold.
    h = engine
    h.buyers(sim_buyer("slow", hang_rate=1.0), sim_buyer("overflow"))
    slow = campaign("slow", h.sim, price="20.00", timeout_ms=60_000)
    await h.configure(
        document(
            [slow, campaign("overflow", h.sim, price="1.00")],
            [tier("t1", "priority", ["slow"]), tier("t2", "priority", ["overflow"])],
            tree={"max_processing_ms": 60_000},
            buyer_dedup_days=30,
        )
    )
    await _cut_while_at_buyer(h)
    await _recover(h)
    [post] = (await _admin(h, "GET", "/uncertain")).json()
    resolved = await _admin(h, "POST", f"/uncertain/{post['reservation_id']}", json={"sold": sold})
    assert resolved.status_code == 200, resolved.text

    h.buyers(sim_buyer("slow"), sim_buyer("overflow"))
    again = (await h.post_lead()).json()  # the same person, a new lead
    assert again["status"] == "sold"
    bought_by = [s["campaign"] for s in (await h.timeline(again["lead_id"]))["sales"]]
    assert bought_by == (["overflow"] if sold else ["slow"])


async def test_an_uncertain_post_of_a_campaign_removed_since_is_booked_to_its_buyer(
    engine: Harness,
) -> None:
    # After the crash the operator removes the campaign (the buyer stays), then learns from
    # the buyer that it took the lead: the sale is the buyer's, billed and paid out as one.
    h = engine
    h.buyers(sim_buyer("slow", hang_rate=1.0), sim_buyer("overflow"))
    slow = campaign("slow-ca", h.sim, buyer="slow", sim_buyer="slow", price="20.00")
    slow["delivery"]["timeout_ms"] = 60_000
    overflow = campaign("overflow", h.sim, price="1.00")
    tree = {"max_processing_ms": 60_000}
    await h.configure(
        document(
            [slow, overflow],
            [tier("t1", "priority", ["slow-ca"]), tier("t2", "priority", ["overflow"])],
            tree=tree,
        )
    )
    lead_id = await _cut_while_at_buyer(h)
    await _recover(h)
    without = document([overflow], [tier("t2", "priority", ["overflow"])], tree=tree)
    data = without.model_dump(mode="json", exclude_none=True)
    data["buyers"].append({"name": "slow", "dedup_days": 0})  # the buyer stays
    await h.configure(type(without).model_validate(data))
    [post] = (await _admin(h, "GET", "/uncertain")).json()
    assert (post["campaign"], post["buyer"]) == ("slow-ca", "slow")

    resolved = await _admin(h, "POST", f"/uncertain/{post['reservation_id']}", json={"sold": True})
    assert resolved.status_code == 200, resolved.text
    await keep_books(h.rt)
    story = await h.timeline(lead_id)
    assert [(s["campaign"], s["buyer"]) for s in story["sales"]] == [("slow-ca", "slow")]
    assert (story["revenue"], story["payout"]) == ("20.00", "10.00")  # 50% revenue share
    assert [(e["kind"], e["debit"]) for e in story["ledger"]][:1] == [("sale", "buyer:slow")]


@pytest.mark.parametrize("change", ["payout", "removed"])
async def test_an_uncertain_post_pays_the_publisher_by_the_rule_in_force_when_it_was_sent(
    engine: Harness, change: str
) -> None:
    # Resolved days later, after the publisher's payout changed (or the publisher was
    # removed): the sale pays what the engine would have booked when the post went out.
    h = engine
    await _setup(h)
    lead_id = await _cut_while_at_buyer(h)
    await _recover(h)
    before = document(
        [campaign("slow", h.sim, price="20.00", caps={"daily": 1}, timeout_ms=60_000)],
        [tier("t1", "priority", ["slow"])],
        tree={"max_processing_ms": 60_000},
        payout={"type": "fixed", "amount": "2.00"},
    )
    data = before.model_dump(mode="json", exclude_none=True)
    data["buyers"].append({"name": "overflow", "dedup_days": 0})
    if change == "removed":
        data["publishers"], data["routes"] = [], []
    await h.configure(type(before).model_validate(data))
    assert ("pub" in h.rt.catalog.publishers) is (change == "payout")
    [post] = (await _admin(h, "GET", "/uncertain")).json()

    resolved = await _admin(h, "POST", f"/uncertain/{post['reservation_id']}", json={"sold": True})
    assert resolved.status_code == 200, resolved.text
    await keep_books(h.rt)
    story = await h.timeline(lead_id)
    assert (story["revenue"], story["payout"]) == ("20.00", "10.00")  # 50%, not 2.00 or 0
    [sale] = story["sales"]
    assert sale["payout"] == "10.00", sale


async def test_an_uncertain_post_resolved_from_the_cli_and_the_api_at_once_is_booked_once(
    engine_sqlite: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two operators reconcile the same post: one from the admin API (the server), one with
    # `pingtree uncertain resolve` (its own process on the same SQLite file), whose write
    # lands while the API's resolve has read the post uncertain and not yet written.
    h = engine_sqlite
    await _setup(h)
    lead_id = await _cut_while_at_buyer(h)
    await _recover(h)
    [post] = (await _admin(h, "GET", "/uncertain")).json()
    monkeypatch.setenv("PINGTREE_DATABASE_URL", h.rt.settings.database)
    cli: list[Result] = []

    def operator_at_the_cli(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if cli or not statement.lstrip().upper().startswith("UPDATE CAP_RESERVATIONS"):
            return
        args = ["uncertain", "resolve", post["reservation_id"], "--sold"]
        resolving = threading.Thread(target=lambda: cli.append(CliRunner().invoke(app, args)))
        resolving.start()
        resolving.join(60)

    event.listen(h.rt.engine.sync_engine, "before_cursor_execute", operator_at_the_cli)
    try:
        answer = await _admin(
            h, "POST", f"/uncertain/{post['reservation_id']}", json={"sold": True}
        )
    finally:
        event.remove(h.rt.engine.sync_engine, "before_cursor_execute", operator_at_the_cli)
    [done] = cli
    assert done.exit_code == 0, done.output
    async with h.rt.sessions() as session:
        sales = (await session.scalars(select(Sale).where(Sale.lead_id == lead_id))).all()
    assert [(s.campaign, s.price) for s in sales] == [("slow", Decimal("20.00"))]
    assert answer.status_code == 404  # resolved already, by the other operator
    books = await read_books(h.rt.engine, "slow")
    assert books.counter == 1 and books.sold == {lead_id} and books.open_holds == 0


@pytest.fixture
async def engine_postgres(
    tmp_path: Path, postgres_schema_url: str | None
) -> AsyncIterator[Harness]:
    """An engine on PostgreSQL only: several transactions of one process at once."""
    async with migrated_database("postgres", tmp_path, postgres_schema_url) as url:
        async for harness in _harness(url):
            yield harness


async def test_a_leads_two_uncertain_posts_resolved_at_once_leave_it_unsold(
    engine_postgres: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The crash caught a post at "slow" and the hold taken ahead for "spare" (the next
    # offer): two uncertain posts of one lead (and picky's, which turned it down). Two
    # operators resolve them at once, both not sold: the lead must end unsold, not stay
    # uncertain with no uncertain post left.
    h = engine_postgres
    h.buyers(sim_buyer("picky", accept_rate=0.0), sim_buyer("slow", hang_rate=1.0))
    h.buyers(sim_buyer("spare"))
    names = ["picky", "slow", "spare"]
    await h.configure(
        document(
            [campaign(n, h.sim, timeout_ms=60_000) for n in names],
            [tier("t1", "priority", names)],
            tree={"max_processing_ms": 60_000},
        )
    )
    request = asyncio.create_task(h.post_lead())
    for _ in range(1000):
        held = (await read_books(h.rt.engine, "spare")).held
        if held and [r for r in h.sim.received("slow") if r.kind == "post"]:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("no hold was taken ahead for spare")
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    await _recover(h)
    posts = {p["campaign"]: p for p in (await _admin(h, "GET", "/uncertain")).json()}
    assert sorted(posts) == ["picky", "slow", "spare"]  # picky's answer died with the process
    lead_id = posts["slow"]["lead_id"]
    picky = f"/uncertain/{posts['picky']['reservation_id']}"
    assert (await _admin(h, "POST", picky, json={"sold": False})).status_code == 200
    monkeypatch.setenv("PINGTREE_DATABASE_URL", h.rt.settings.database)
    cli: list[Result] = []

    def operator_at_the_cli(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if cli or "count(*)" not in statement.lower():
            return
        # The API's resolve has given slow's room back and counted what is left open.
        args = ["uncertain", "resolve", posts["spare"]["reservation_id"], "--not-sold"]
        resolving = threading.Thread(target=lambda: cli.append(CliRunner().invoke(app, args)))
        resolving.start()
        resolving.join(5)  # or it waits for this resolve to end: then it is not "at once"
        waiting.append(resolving)

    waiting: list[threading.Thread] = []
    event.listen(h.rt.engine.sync_engine, "after_cursor_execute", operator_at_the_cli)
    try:
        answer = await _admin(
            h, "POST", f"/uncertain/{posts['slow']['reservation_id']}", json={"sold": False}
        )
    finally:
        event.remove(h.rt.engine.sync_engine, "after_cursor_execute", operator_at_the_cli)
    assert answer.status_code == 200, answer.text
    await asyncio.to_thread(waiting[0].join, 60)
    [done] = cli
    assert done.exit_code == 0, done.output
    assert (await _admin(h, "GET", "/uncertain")).json() == []
    story = await h.timeline(lead_id)
    assert story["status"] == "unsold"
    assert [r["code"] for r in story["reasons"]] == ["not_sold"]
