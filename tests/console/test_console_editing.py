"""Changing the configuration from the console: checked as the YAML file is, shown before it
is applied, recorded with the operator, on SQLite and PostgreSQL."""

from __future__ import annotations

import html as html_text
import re
from typing import Any

from sqlalchemy import select

from pingtree.config.history import Source
from pingtree.config.store import load_document
from pingtree.operators import Role, repository
from pingtree.storage.tables import ConfigChange
from tests.console.conftest import Harness, Operator, csrf_of, field_value, operator
from tests.engine.conftest import sim_buyer
from tests.factories import campaign, document, tier

VERTICAL_FORM = {
    "_action": "check",
    "name": "solar",
    "description": "Homeowners going solar",
    "fields[0].name": "email",
    "fields[0].type": "email",
    "fields[0].required:bool": "true",
    "fields[0].pii:bool": "true",
    "fields[1].name": "roof_age",
    "fields[1].type": "integer",
    "fields[1].min": "0",
    "fields[1].max": "80",
}


def problems_beside(html: str) -> dict[str, list[str]]:
    """Each input's problems, as shown right under it (by the input's element id)."""
    found: dict[str, list[str]] = {}
    for element, why in re.findall(r'<p class="field-error" id="([^"]+)-error">([^<]*)</p>', html):
        found.setdefault(element, []).append(html_text.unescape(why))
    return found


async def stored(h: Harness) -> dict[str, Any]:
    async with h.rt.sessions() as session:
        doc, version = await load_document(session)
    return {"version": version, **doc.model_dump(mode="json", exclude_none=True)}


async def history(h: Harness) -> list[ConfigChange]:
    """The changes made in the test (the harness's own set-up is recorded as the system's)."""
    query = select(ConfigChange).where(ConfigChange.source != Source.SYSTEM)
    async with h.rt.sessions() as session:
        return list((await session.scalars(query.order_by(ConfigChange.id))).all())


async def configured(h: Harness) -> None:
    h.buyers(sim_buyer("apex"), sim_buyer("cascade"))
    await h.configure(
        document(
            [campaign("apex", h.sim), campaign("cascade", h.sim)],
            [tier("first", "priority", ["apex"]), tier("second", "priority", ["cascade"])],
        )
    )


async def test_a_new_vertical_is_checked_shown_then_applied_and_recorded(engine: Harness) -> None:
    console = await operator(engine)
    path = "/console/config/verticals/_new"
    checked = await console.submit(path, VERTICAL_FORM)
    assert checked.status_code == 200, checked.text
    assert 'id="plan"' in checked.text
    assert "+ create" in checked.text and "verticals/solar" in checked.text
    assert "<code>fields[1].max</code>: 80" in checked.text  # every field of a new resource
    assert (await stored(engine))["verticals"] == []  # a check changes nothing

    applied = await console.submit(path, {**VERTICAL_FORM, "_action": "apply"})
    assert applied.status_code == 303
    assert applied.headers["location"] == "/console/config/verticals/solar?applied=1"
    now = await stored(engine)
    assert now["version"] == 1
    (solar,) = now["verticals"]
    assert [f["name"] for f in solar["fields"]] == ["email", "roof_age"]
    assert solar["fields"][0]["pii"] is True and solar["fields"][1]["max"] == "80"
    assert engine.rt.catalog.verticals["solar"].field("roof_age") is not None  # in force
    (change,) = await history(engine)
    assert change.operator == "admin-token" and change.source == "console"
    assert change.version == 1 and change.before == {"verticals/solar": None}
    assert change.after["verticals/solar"]["name"] == "solar"
    page = await console.get("/console/history")
    assert "Version 1" in page.text and "by admin-token" in page.text


async def test_problems_are_shown_beside_their_inputs_and_nothing_changes(
    engine: Harness,
) -> None:
    await configured(engine)
    console = await operator(engine)
    before = await stored(engine)
    form = {
        "_action": "apply",
        "name": "apex",
        "buyer": "apexx",
        "vertical": "auto",
        "active:bool": "true",
        "caps.daily": "-1",
        "price.type": "fixed",
        "filters[0].field": "age",
        "filters[0].op": "range",
        "delivery:yaml": f"post: {{url: '{engine.sim.url('apex', 'post')}', response: "
        "{rules: [{source: status, equals: '200', outcome: accepted}]}}",
    }
    r = await console.submit("/console/config/campaigns/apex", form)
    assert r.status_code == 422
    beside = problems_beside(r.text)
    assert beside["f-caps-daily"] == ["must be >= 0"]
    assert beside["f-buyer"] == ["unknown buyer 'apexx' (did you mean 'apex'?)"]
    assert beside["f-price"] == ["a fixed price needs amount"]
    assert beside["f-filters-0"] == ["range needs min and/or max"]
    assert 'id="f-caps-daily"' in r.text and 'aria-invalid="true"' in r.text
    assert "nothing was changed" in r.text
    assert await stored(engine) == before
    assert await history(engine) == []


async def test_a_campaign_change_shows_its_diff_then_applies(engine: Harness) -> None:
    await configured(engine)
    console = await operator(engine)
    page = await console.get("/console/config/campaigns/cascade")
    assert field_value(page.text, "price.amount") == "10.00"
    form = _campaign_form(page.text)
    form.update({"price.amount": "12.50", "caps.daily": "300", "_action": "check"})
    checked = await console.submit("/console/config/campaigns/cascade", form)
    assert checked.status_code == 200
    assert "<code>price.amount</code>: 10.00 -&gt; 12.50" in checked.text
    assert "<code>caps.daily</code>: (none) -&gt; 300" in checked.text
    applied = await console.submit(
        "/console/config/campaigns/cascade", {**form, "_action": "apply"}
    )
    assert applied.status_code == 303
    assert str(engine.rt.catalog.campaign("cascade").price.amount) == "12.50"
    (change,) = await history(engine)
    assert "    campaigns/cascade.price.amount: 10.00 -> 12.50" in change.lines


def _campaign_form(html: str) -> dict[str, str]:
    """The fields a campaign's editor was opened with (the ones these tests touch)."""
    names = ["name", "buyer", "vertical", "price.type", "price.amount", "price.floor"]
    form = {name: field_value(html, name) for name in ("name", "price.amount", "price.floor")}
    form["buyer"] = re.search(r'id="f-buyer".*?selected>([^<]+)<', html, re.S)[1]  # type: ignore[index]
    form["vertical"] = "auto"
    form["price.type"] = "fixed"
    form["active:bool"] = "true"
    delivery = re.search(r'name="delivery:yaml"[^>]*>([^<]*)</textarea>', html)
    assert delivery is not None and set(names) >= set(form) - {"active:bool"}
    form["delivery:yaml"] = delivery[1].replace("&#39;", "'").replace("&#34;", '"')
    return form


async def test_a_change_made_meanwhile_is_shown_before_applying(engine: Harness) -> None:
    await configured(engine)
    console = await operator(engine)
    opened = await console.get("/console/config/buyers/apex")
    base = field_value(opened.text, "_base")
    other = await console.submit(
        "/console/config/buyers/cascade",
        {"_action": "apply", "name": "cascade", "dedup_days": "5", "active:bool": "true"},
    )
    assert other.status_code == 303
    form = {"_base": base, "_action": "apply", "name": "apex", "dedup_days": "9"}
    form["active:bool"] = "true"
    r = await console.submit("/console/config/buyers/apex", form)
    assert r.status_code == 409
    assert "The configuration changed" in r.text and "<code>dedup_days</code>: 0 -&gt; 9" in r.text
    assert {b["name"]: b["dedup_days"] for b in (await stored(engine))["buyers"]}["apex"] == 0
    # Looked at again (the page now carries the new version): it applies.
    again = {**form, "_base": field_value(r.text, "_base")}
    assert (
        await console.client.post(
            "/console/config/buyers/apex", data={**again, "csrf": csrf_of(r.text)}
        )
    ).status_code == 303
    assert engine.rt.catalog.buyers["apex"].dedup_days == 9


async def test_removing_what_a_tree_uses_is_refused_naming_it(engine: Harness) -> None:
    await configured(engine)
    console = await operator(engine)
    r = await console.submit("/console/config/campaigns/apex", {"_action": "remove_check"})
    assert r.status_code == 422
    assert "trees/main.tiers[0].campaigns[0].campaign: unknown campaign &#39;apex&#39;" in r.text
    unused = await console.submit("/console/config/routes/pub:auto", {"_action": "remove_check"})
    assert unused.status_code == 200 and "routes/pub:auto" in unused.text
    gone = await console.submit("/console/config/routes/pub:auto", {"_action": "remove_apply"})
    assert gone.status_code == 303
    assert (await stored(engine))["routes"] == []
    assert [c.lines[0] for c in await history(engine)] == ["- remove routes/pub:auto"]


async def test_pause_and_resume_in_one_click(engine: Harness) -> None:
    await configured(engine)
    console = await operator(engine)
    listing = "/console/config/campaigns"
    paused = await console.submit(
        "/console/config/campaigns/apex/active", {"active": "false"}, opened=listing
    )
    assert paused.status_code == 303 and "Paused%20campaign%20apex" in paused.headers["location"]
    assert engine.rt.catalog.campaign("apex").active is False
    r = await engine.post_lead()
    assert r.json()["status"] == "sold"
    timeline = await engine.timeline(r.json()["lead_id"])
    assert {"campaign": "apex", "reason": "inactive"}.items() <= timeline["skipped"][0].items()
    resumed = await console.submit(
        "/console/config/buyers/apex/active", {"active": "false"}, opened="/console/config/buyers"
    )
    assert resumed.status_code == 303 and engine.rt.catalog.buyers["apex"].active is False
    await console.submit(
        "/console/config/campaigns/apex/active", {"active": "true"}, opened=listing
    )
    assert engine.rt.catalog.campaign("apex").active is True
    assert [c.operator for c in await history(engine)] == ["admin-token"] * 3


async def test_tiers_and_their_campaigns_move_with_buttons(engine: Harness) -> None:
    await configured(engine)
    console = await operator(engine)
    page = await console.get("/console/config/trees/main")
    form = {
        "name": "main",
        "vertical": "auto",
        "tiers[0].name": field_value(page.text, "tiers[0].name"),
        "tiers[0].flow": "priority",
        "tiers[0].campaigns[0].campaign": "apex",
        "tiers[1].name": field_value(page.text, "tiers[1].name"),
        "tiers[1].flow": "priority",
        "tiers[1].campaigns[0].campaign": "cascade",
    }
    moved = await console.submit("/console/config/trees/main", {**form, "_action": "down:tiers[0]"})
    assert moved.status_code == 200
    assert field_value(moved.text, "tiers[0].name") == "second"
    assert field_value(moved.text, "tiers[1].name") == "first"
    added = await console.submit(
        "/console/config/trees/main", {**form, "_action": "add:tiers[0].campaigns"}
    )
    assert 'name="tiers[0].campaigns[1].campaign"' in added.text
    swapped = {**form, "tiers[0].name": "second", "tiers[1].name": "first"}
    swapped["tiers[0].campaigns[0].campaign"] = "cascade"
    swapped["tiers[1].campaigns[0].campaign"] = "apex"
    r = await console.submit("/console/config/trees/main", {**swapped, "_action": "apply"})
    assert r.status_code == 303
    assert [t.name for t in engine.rt.catalog.trees["main"].tiers] == ["second", "first"]


async def test_the_yaml_editor_goes_through_the_same_checks(engine: Harness) -> None:
    await configured(engine)
    console = await operator(engine)
    path = "/console/config/buyers/apex"
    bad = await console.submit(
        path,
        {"_mode": "yaml", "_action": "check", "_yaml": "name: apex\ndedup_days: -4\n"},
        opened=f"{path}/yaml",
    )
    assert bad.status_code == 422 and "<code>dedup_days</code></a>: must be &gt;= 0" in bad.text
    broken = await console.submit(
        path, {"_mode": "yaml", "_yaml": "name: [apex"}, opened=f"{path}/yaml"
    )
    assert broken.status_code == 422 and "not valid YAML" in broken.text
    good = await console.submit(
        path,
        {"_mode": "yaml", "_action": "apply", "_yaml": "name: apex\ndedup_days: 12\n"},
        opened=f"{path}/yaml",
    )
    assert good.status_code == 303
    assert engine.rt.catalog.buyers["apex"].dedup_days == 12


async def test_credentials_never_show_and_are_kept_when_left_masked(engine: Harness) -> None:
    engine.buyers(sim_buyer("apex"))
    secret = "apex-very-secret-token"
    spec = campaign("apex", engine.sim)
    spec["delivery"]["auth"] = {"type": "bearer", "token": "{{ secrets.token }}"}
    spec["delivery"]["secrets"] = {"token": secret}
    await engine.configure(document([spec], [tier("only", "priority", ["apex"])]))
    console = await operator(engine)
    page = await console.get("/console/config/campaigns/apex")
    assert secret not in page.text and "enc:" in page.text
    before = await stored(engine)
    form = _campaign_form(page.text)
    r = await console.submit("/console/config/campaigns/apex", {**form, "_action": "check"})
    assert "No changes: the configuration already says this." in r.text
    preview = await console.submit(
        "/console/config/campaigns/apex", {**form, "_action": "preview_request"}
    )
    assert "Authorization: ***" in preview.text and secret not in preview.text
    assert "POST " + engine.sim.url("apex", "post") in preview.text
    assert await stored(engine) == before


async def test_send_test_shows_how_the_rules_read_the_buyers_answer(engine: Harness) -> None:
    await configured(engine)
    console = await operator(engine)
    page = await console.get("/console/config/campaigns/apex")
    form = {**_campaign_form(page.text), "_action": "send_test"}
    r = await console.submit("/console/config/campaigns/apex", form)
    assert r.status_code == 200
    assert 'id="trial-outcome">accepted (rule 1 matched)' in r.text
    shown = html_text.unescape(r.text)
    assert """json $.status equals 'accepted' -> accepted: found ["accepted"], MATCHED""" in shown
    (received,) = engine.sim.received("apex")
    assert received.headers.get("X-Pingtree-Test") == "1"  # marked as a test, counts nowhere


async def test_a_publishers_key_is_issued_rotated_and_revoked(engine: Harness) -> None:
    await configured(engine)
    console = await operator(engine)
    created = await console.submit(
        "/console/config/publishers/_new",
        {
            "_action": "apply",
            "name": "coupons",
            "active:bool": "true",
            "payout.type": "fixed",
            "payout.amount": "6.00",
        },
    )
    assert created.status_code == 200 and "shown once" in created.text
    first = _key(created.text)
    assert await _works(engine, first)
    confirm = await console.submit(
        "/console/config/publishers/coupons/key",
        {"do": "rotate"},
        opened="/console/config/publishers/coupons",
    )
    assert "stops working at once" in confirm.text and await _works(engine, first)
    rotated = await console.submit(
        "/console/config/publishers/coupons/key",
        {"do": "rotate", "confirmed": "yes"},
        opened="/console/config/publishers/coupons",
    )
    second = _key(rotated.text)
    assert second != first and await _works(engine, second) and not await _works(engine, first)
    revoked = await console.submit(
        "/console/config/publishers/coupons/key",
        {"do": "revoke", "confirmed": "yes"},
        opened="/console/config/publishers/coupons",
    )
    assert revoked.status_code == 303 and not await _works(engine, second)
    page = await console.get("/console/config/publishers/coupons")
    assert "revoked" in page.text and 'value="issue"' in page.text
    lines = [line for c in await history(engine) for line in c.lines]
    assert "    publishers/coupons.api_key_sha256: (secret changed)" in lines
    assert first not in str(lines) and second not in str(lines)


def _key(html: str) -> str:
    found = re.search(r'class="api-key" value="([^"]+)"', html)
    assert found is not None, html
    return found[1]


async def _works(h: Harness, key: str) -> bool:
    r = await h.client.get("/api/v1/leads/none", headers={"X-API-Key": key})
    return r.status_code == 404  # known key, unknown lead (a bad key answers 401)


async def test_forms_need_their_sessions_token_and_the_right_role(engine: Harness) -> None:
    await configured(engine)
    console = await operator(engine)
    path = "/console/config/buyers/apex/active"
    assert (await console.client.post(path, data={"active": "false"})).status_code == 403
    page = await console.get("/console/config/buyers")
    token = csrf_of(page.text)
    foreign = await console.client.post(
        path, data={"active": "false", "csrf": token}, headers={"Origin": "https://evil.test"}
    )
    assert foreign.status_code == 403 and "This form has expired" in foreign.text
    assert engine.rt.catalog.buyers["apex"].active is True
    assert await history(engine) == []
    done = await console.client.post(path, data={"active": "false", "csrf": token})
    assert done.status_code == 303 and engine.rt.catalog.buyers["apex"].active is False


async def test_an_analyst_reads_the_editors_but_cannot_change_anything(engine: Harness) -> None:
    await configured(engine)
    async with engine.rt.sessions() as session, session.begin():
        token = await repository.create(
            session, "ann", Role.ANALYST, now=engine.rt.clock.now(), actor="test"
        )
    analyst = await Operator.login(engine.client, token)
    page = await analyst.get("/console/config/campaigns/apex")
    assert page.status_code == 200 and "(read-only)" in page.text
    assert "disabled" in page.text and 'value="apply"' not in page.text
    r = await analyst.submit(
        "/console/config/buyers/apex/active", {"active": "false"}, opened="/console/config/buyers"
    )
    assert r.status_code == 403 and "may not do this" in r.text
    assert engine.rt.catalog.buyers["apex"].active is True


async def test_applying_what_is_already_there_changes_nothing(engine: Harness) -> None:
    await configured(engine)
    console = await operator(engine)
    form = {"_action": "apply", "name": "apex", "dedup_days": "0", "active:bool": "true"}
    r = await console.submit("/console/config/buyers/apex", form)
    assert r.status_code == 303 and "done=No%20changes" in r.headers["location"]
    again = await console.submit(
        "/console/config/buyers/apex/active", {"active": "true"}, opened="/console/config/buyers"
    )
    assert again.status_code == 303 and "no%20change" in again.headers["location"]
    assert (await stored(engine))["version"] == 1 and await history(engine) == []
