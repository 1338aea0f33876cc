"""Delivery against real buyer servers: PII never pinged, formats, auth, every failure kind."""

from __future__ import annotations

import socket

import pytest

from pingtree.simulator.behaviour import ScriptedAnswer
from tests.engine.conftest import SIMULATOR_ALLOW, Harness, _harness, sim_buyer
from tests.factories import JSON_POST, LEAD_FIELDS, campaign, document, tier

PII = {"first_name", "email", "phone", "ssn"}


async def test_a_ping_never_carries_pii(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("bidder"), sim_buyer("narrow"))
    await h.configure(
        document(
            [
                campaign("bidder", h.sim, bid=True),
                campaign(
                    "narrow",
                    h.sim,
                    bid=True,
                    delivery={
                        "ping_fields": ["zip"],
                        "ping": {"url": h.sim.url("narrow", "ping"), "response": JSON_POST},
                        "post": {"url": h.sim.url("narrow", "post"), "response": JSON_POST},
                    },
                ),
            ],
            [tier("auction", "ping_post", ["bidder", "narrow"])],
        )
    )
    await h.post_lead()
    ping = next(r for r in h.sim.received("bidder") if r.kind == "ping")
    assert PII.isdisjoint(ping.body)
    assert "123-45-6789" not in ping.raw_body and "ada.lovelace" not in ping.raw_body
    assert {"zip", "state", "age", "credit"} <= set(ping.body)
    narrow = next(r for r in h.sim.received("narrow") if r.kind == "ping")
    assert set(narrow.body) - {"lead_id"} == {"zip"}
    # The post to the winner carries the full lead.
    post = next(r for r in h.sim.received("bidder") if r.kind == "post")
    assert post.body["ssn"] == "123-45-6789" and post.body["email"] == LEAD_FIELDS["email"]


async def test_form_and_xml_bodies_and_auth_reach_the_buyer(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("formy", accept_rate=0.0), sim_buyer("xmly"))
    form = campaign("formy", h.sim)
    form["delivery"]["post"]["format"] = "form"
    form["delivery"]["auth"] = {"type": "basic", "username": "u", "password": "p"}
    xml = campaign("xmly", h.sim)
    xml["delivery"]["post"]["format"] = "xml"
    xml["delivery"]["auth"] = {"type": "bearer", "token": "tok"}
    await h.configure(document([form, xml], [tier("t", "priority", ["formy", "xmly"])]))
    answer = (await h.post_lead()).json()
    assert answer["status"] == "sold"
    got_form = h.sim.received("formy")[0]
    assert got_form.body["zip"] == "10001" and got_form.body["age"] == "36"
    assert got_form.header("Authorization") == "Basic dTpw"
    got_xml = h.sim.received("xmly")[0]
    assert got_xml.body["email"] == LEAD_FIELDS["email"]
    assert got_xml.header("Authorization") == "Bearer tok"
    story = await h.timeline(answer["lead_id"])
    assert all(a["request"]["headers"]["Authorization"] == "***" for a in story["attempts"])


async def test_template_renders_the_body(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("tpl"))
    spec = campaign("tpl", h.sim)
    spec["delivery"]["post"]["template"] = (
        '{"contact": {"mail": "{{ lead.email }}", "zip": "{{ lead.zip }}"}, "ref": "{{ lead_id }}"}'
    )
    await h.configure(document([spec], [tier("t", "priority", ["tpl"])]))
    answer = (await h.post_lead()).json()
    body = h.sim.received("tpl")[0].body
    assert body == {
        "contact": {"mail": LEAD_FIELDS["email"], "zip": "10001"},
        "ref": answer["lead_id"],
    }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_refused_connection_and_timeout_are_recorded_and_cascade(
    engine_sqlite: Harness,
) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("hangs", hang_rate=1.0), sim_buyer("ok"))
    dead = campaign("dead", h.sim, sim_buyer="ok")
    dead["delivery"]["post"]["url"] = f"http://127.0.0.1:{_closed_port()}/post"
    await h.configure(
        document(
            [dead, campaign("hangs", h.sim, timeout_ms=300), campaign("ok", h.sim)],
            [tier("t", "priority", ["dead", "hangs", "ok"])],
        )
    )
    answer = (await h.post_lead()).json()
    story = await h.timeline(answer["lead_id"])
    outcomes = [(a["campaign"], a["outcome"]) for a in story["attempts"]]
    assert outcomes == [("dead", "error"), ("hangs", "timeout"), ("ok", "accepted")]
    assert "connection failed" in story["attempts"][0]["reason"]
    assert 250 <= story["attempts"][1]["duration_ms"] < 2000
    assert answer["status"] == "sold"


async def test_test_lead_goes_to_test_url(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("live"), sim_buyer("sandbox"))
    spec = campaign("live", h.sim)
    spec["delivery"]["post"]["test_url"] = h.sim.url("sandbox", "post")
    await h.configure(document([spec], [tier("t", "priority", ["live"])]))
    assert (await h.post_lead(test=True)).json()["status"] == "sold"
    assert h.sim.received("live") == [] and len(h.sim.received("sandbox")) == 1


@pytest.mark.parametrize("delivery_process", [False, True], ids=["here", "delivery-process"])
async def test_a_cookie_a_buyer_sets_is_never_sent_again(
    sqlite_url: str, delivery_process: bool
) -> None:
    """Each ping and post stands alone: a Set-Cookie (a hostile buyer's tracker, or another
    buyer's on the same host) is not kept for later leads or other buyers, wherever the
    requests are sent from."""
    allow = f"{SIMULATOR_ALLOW},localhost"
    async for h in _harness(sqlite_url, buyer_url_allow=allow, delivery_process=delivery_process):
        await _no_cookie_kept(h)


async def _no_cookie_kept(h: Harness) -> None:
    setter = ScriptedAnswer(
        headers=[
            ("Content-Type", "application/json"),
            ("Set-Cookie", "tracker=lead-one; Path=/; Max-Age=3600"),
        ],
        body=b'{"status": "accepted"}',
    )
    h.buyers(sim_buyer("setter", scripted=setter), sim_buyer("other"))
    # By name, not address: a cookie jar keeps no cookie from an IP address.
    named = {
        name: campaign(
            name,
            h.sim,
            delivery={
                "post": {
                    "url": h.sim.url(name, "post").replace("127.0.0.1", "localhost"),
                    "response": JSON_POST,
                }
            },
        )
        for name in ("setter", "other")
    }
    await h.configure(document(list(named.values()), [tier("t", "priority", ["setter", "other"])]))
    first = await h.post_lead()
    assert first.json()["status"] == "sold", first.text
    h.sim.buyer("setter").scripted = None
    h.sim.buyer("setter").accept_rate = 0.0  # the next lead goes on to the other buyer
    second = await h.post_lead()
    assert second.json()["status"] == "sold", second.text
    assert [r.kind for r in h.sim.received("setter")] == ["post", "post"]
    assert [r.kind for r in h.sim.received("other")] == ["post"]
    sent = [*h.sim.received("setter"), *h.sim.received("other")]
    assert [r.header("Cookie") for r in sent] == [None, None, None]
