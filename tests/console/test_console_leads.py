"""Finding leads (by id, email or phone through their hash, publisher, buyer, status, period)
and reading one, on both databases."""

from __future__ import annotations

import re

from pingtree.clock import ManualClock
from pingtree.storage.tables import Lead
from tests.console.conftest import BEARER, Harness
from tests.engine.conftest import ADMIN_TOKEN, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
COLUMNS = [c.key for c in Lead.__table__.columns if c.key != "id"]
assert BEARER  # the console's own token is another; these tests use the engine's


def found(html: str) -> list[str]:
    """The lead ids a results page lists (their short form)."""
    table = html.split('id="lead-results"')[1].split("</table>")[0]
    return re.findall(r'<a href="/console/leads/[^"]+"><code>([0-9a-f]{8})</code>', table)


async def sold_and_unsold(h: Harness) -> tuple[str, str]:
    h.buyers(sim_buyer("apex"), sim_buyer("nobody", accept_rate=0.0))
    await h.configure(
        document(
            [
                campaign(
                    "apex",
                    h.sim,
                    price="15.00",
                    filters=[{"field": "state", "op": "equals", "value": "NY"}],
                ),
                campaign("nobody", h.sim),
            ],
            [tier("only", "priority", ["apex", "nobody"])],
        )
    )
    sold = await h.post_lead({**LEAD_FIELDS, "email": "Ada.Lovelace@Example.com"})
    unsold = await h.post_lead(
        {
            **LEAD_FIELDS,
            "email": "grace@example.com",
            "phone": "(415) 555-0134",
            "zip": "94103",
            "state": "CA",
        }
    )
    assert (sold.json()["status"], unsold.json()["status"]) == ("sold", "unsold")
    return sold.json()["lead_id"], unsold.json()["lead_id"]


async def test_leads_are_found_by_email_phone_id_buyer_and_status(engine: Harness) -> None:
    sold, unsold = await sold_and_unsold(engine)
    get = engine.client.get

    async def search(**params: str) -> list[str]:
        r = await get("/console/leads", params=params, headers=ADMIN)
        assert r.status_code == 200, r.text
        return found(r.text)

    assert await search() == [unsold[:8], sold[:8]]  # newest first
    # Email and phone as people write them: normalised and hashed, as screening does.
    assert await search(q="ada.lovelace@example.COM") == [sold[:8]]
    assert await search(q="415-555-0134") == [unsold[:8]]
    assert await search(q="+1 (212) 736 5000") == [sold[:8]]
    assert await search(q="nobody@example.com") == []
    assert await search(q=sold[:6]) == [sold[:8]]
    assert await search(q=sold) == [sold[:8]]
    assert await search(buyer="apex") == [sold[:8]]
    assert await search(status="unsold") == [unsold[:8]]
    assert await search(publisher="pub", status="sold") == [sold[:8]]
    assert await search(publisher="elsewhere") == []
    digits = "20261125-0000-4000-8000-000000000000"  # an id that begins like a phone number
    async with engine.rt.sessions() as session, session.begin():
        row = await session.get(Lead, sold)
        assert row is not None
        session.add(Lead(**{**{c: getattr(row, c) for c in COLUMNS}, "id": digits}))
    assert await search(q="20261125") == ["20261125"]
    bad = await get("/console/leads", params={"status": "lost", "from": "03/01"}, headers=ADMIN)
    assert bad.status_code == 400
    assert "<code>status</code>: no lead status" in bad.text and "<code>from</code>" in bad.text


async def test_a_period_is_read_in_the_chosen_time_zone(engine_clocked: Harness) -> None:
    h = engine_clocked
    clock = h.rt.clock
    assert isinstance(clock, ManualClock)
    h.buyers(sim_buyer("apex"))
    await h.configure(document([campaign("apex", h.sim)], [tier("only", "priority", ["apex"])]))
    # Wednesday 2026-11-25 12:00 UTC, then 22:30 UTC: 17:30 in New York, the 26th in Tokyo.
    first = (await h.post_lead()).json()["lead_id"]
    clock.advance(10.5 * 3600)
    second = (await h.post_lead()).json()["lead_id"]

    async def on(day: str, tz: str) -> list[str]:
        params = {"from": day, "to": day, "tz": tz}
        return found((await h.client.get("/console/leads", params=params, headers=ADMIN)).text)

    assert await on("2026-11-25", "UTC") == [second[:8], first[:8]]
    assert await on("2026-11-25", "America/New_York") == [second[:8], first[:8]]
    assert await on("2026-11-25", "Asia/Tokyo") == [first[:8]]
    assert await on("2026-11-26", "Asia/Tokyo") == [second[:8]]
    hour = {"from": "2026-11-25T17:00", "to": "2026-11-25T18:00", "tz": "America/New_York"}
    r = await h.client.get("/console/leads", params=hour, headers=ADMIN)
    assert found(r.text) == [second[:8]]


async def test_more_leads_come_a_page_at_a_time(engine_clocked: Harness) -> None:
    h = engine_clocked
    assert isinstance(h.rt.clock, ManualClock)
    h.buyers(sim_buyer("apex"))
    await h.configure(document([campaign("apex", h.sim)], [tier("only", "priority", ["apex"])]))
    ids = []
    for _ in range(53):
        ids.append((await h.post_lead()).json()["lead_id"])
        h.rt.clock.advance(1)
    first = await h.client.get("/console/leads", headers=ADMIN)
    assert found(first.text) == [i[:8] for i in reversed(ids)][:50]
    following = re.search(r'<a href="(/console/leads\?[^"]+)" id="more">', first.text)
    assert following is not None
    rest = await h.client.get(following[1].replace("&amp;", "&"), headers=ADMIN)
    assert found(rest.text) == [i[:8] for i in reversed(ids[:3])]
    assert 'id="more"' not in rest.text


async def test_a_leads_page_reads_like_a_story(engine: Harness) -> None:
    sold, _ = await sold_and_unsold(engine)
    r = await engine.client.get(f"/console/leads/{sold}", headers=ADMIN)
    assert r.status_code == 200
    page = r.text
    fields = re.findall(r"<tr><td><code>(\w+)</code>", page.split('id="fields"')[1])
    assert fields == [
        "first_name",
        "email",
        "phone",
        "ssn",
        "zip",
        "state",
        "age",
        "credit",
    ]  # the vertical's order, not the alphabet
    assert '<code>email</code> <span class="badge">PII</span>' in page
    assert "No findings: every check passed." in page  # no policy in this setup
    moments = re.findall(r"<strong>(\w+)</strong>", page.split('id="moments"')[1].split("</ol>")[0])
    assert moments == ["received", "screened", "post", "sold", "answered"]
    assert "a filter does not match" not in page  # apex took it first
    assert '<dd id="lead-margin">7.50</dd>' in page


async def test_screening_findings_booleans_and_skips_are_readable(engine: Harness) -> None:
    engine.buyers(sim_buyer("apex"))
    vertical = {
        "name": "auto",
        "fields": [
            {"name": "email", "type": "email", "required": True, "pii": True},
            {"name": "phone", "type": "phone", "pii": True},
            {"name": "zip", "type": "zip"},
            {"name": "state", "type": "state"},
            {"name": "insured", "type": "boolean"},
        ],
    }
    screening = {"checks": [{"check": "role_email", "action": "score", "penalty": 25}]}
    await engine.configure(
        document(
            [
                campaign(
                    "apex", engine.sim, filters=[{"field": "state", "op": "equals", "value": "CA"}]
                )
            ],
            [tier("only", "priority", ["apex"])],
            vertical=vertical,
            screening=screening,
        )
    )
    r = await engine.post_lead(
        {
            "email": "info@example.com",
            "phone": "2127365000",
            "zip": "10001",
            "state": "NY",
            "insured": False,
        }
    )
    page = (await engine.client.get(f"/console/leads/{r.json()['lead_id']}", headers=ADMIN)).text
    assert (
        "<td>No</td>" in page and "False" not in page.split('id="fields"')[1].split("</table>")[0]
    )
    section = page.split('id="screening"')[1].split("</div>")[0]
    assert "Score <strong>75</strong>" in section
    assert (
        "<strong>email address is a role account</strong> (<code>email</code>): −25 points"
        in section
    )
    assert "{" not in section  # a list, not a JSON dump
    skipped = page.split('id="skipped"')[1].split("</table>")[0]
    assert "a filter does not match" in skipped and "state equals CA" in skipped


async def test_unknown_lead_and_unknown_console_pages_answer_a_page(engine: Harness) -> None:
    r = await engine.client.get("/console/leads/nope", headers=ADMIN)
    assert r.status_code == 404 and "There is no lead <code>nope</code>" in r.text
    for method in ("GET", "POST"):
        missing = await engine.client.request(method, "/console/nowhere/at/all", headers=ADMIN)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "There is no console page at <code>/console/nowhere/at/all</code>" in missing.text
    kind = await engine.client.get("/console/config/widgets", headers=ADMIN)
    assert kind.status_code == 404 and "nothing called" in kind.text
    absent = await engine.client.get("/console/config/campaigns/ghost", headers=ADMIN)
    assert absent.status_code == 404 and "There is no campaign &#39;ghost&#39;" in absent.text
    assert (await engine.client.get("/console/static/console.css")).status_code == 200
