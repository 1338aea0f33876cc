"""The configuration's history holds every change, wherever it was made: the console, the
admin API (by the caller's name) and `pingtree apply` (tests/config/test_history.py), with
each resource before and after; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pingtree.config.history import Source
from pingtree.operators import Role
from pingtree.storage.tables import ConfigChange
from tests.console.conftest import ADMIN_TOKEN, Harness, operator
from tests.engine.conftest import sim_buyer
from tests.factories import campaign, document, tier
from tests.operators.conftest import add_operator


async def made(h: Harness) -> list[ConfigChange]:
    """The changes made after the harness's own set-up, oldest first."""
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


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _spec(h: Harness, headers: dict[str, str], kind: str, name: str) -> dict[str, Any]:
    r = await h.client.get(f"/api/v1/admin/{kind}/{name}", headers=headers)
    assert r.status_code == 200, r.text
    spec: dict[str, Any] = r.json()
    return spec


async def test_the_admin_api_pausing_and_resuming_is_in_the_history_by_its_caller(
    engine: Harness,
) -> None:
    h = engine
    await configured(h)
    otto = _bearer(await add_operator(h.rt, "otto", Role.OPERATOR))
    spec = await _spec(h, otto, "campaigns", "apex")
    paused = await h.client.put(
        "/api/v1/admin/campaigns/apex", json={**spec, "active": False}, headers=otto
    )
    assert paused.status_code == 200, paused.text
    resumed = await h.client.put(
        "/api/v1/admin/campaigns/apex", json={**spec, "active": True}, headers=otto
    )
    assert resumed.status_code == 200, resumed.text

    pause, resume = await made(h)
    assert (pause.operator, pause.source) == ("otto", "api")
    assert pause.lines == [
        "~ change campaigns/apex",
        "    campaigns/apex.active: true -> false",
    ]
    assert pause.before["campaigns/apex"]["active"] is True
    assert pause.after["campaigns/apex"]["active"] is False
    assert resume.after["campaigns/apex"]["active"] is True
    assert resume.version == pause.version + 1 == h.rt.catalog.version

    console = await operator(h)
    page = await console.get("/console/history")
    assert page.text.count("by otto") == 2 and "api" in page.text
    assert "campaigns/apex.active: true -&gt; false" in page.text


async def test_the_admin_api_creating_removing_and_applying_a_document_are_recorded(
    engine: Harness,
) -> None:
    h = engine
    await configured(h)
    otto = _bearer(await add_operator(h.rt, "otto", Role.OPERATOR))
    buyer = {"name": "gamma", "contact_email": "ops@gamma.example"}
    created = await h.client.put("/api/v1/admin/buyers/gamma", json=buyer, headers=otto)
    assert created.status_code == 200, created.text
    removed = await h.client.delete("/api/v1/admin/buyers/gamma", headers=otto)
    assert removed.status_code == 204, removed.text
    whole = (await h.client.get("/api/v1/admin/config", headers=otto)).json()
    whole.pop("version")
    whole["routes"] = []
    applied = await h.client.post("/api/v1/admin/config", json=whole, headers=otto)
    assert applied.status_code == 200, applied.text

    create, remove, document_applied = await made(h)
    assert {c.operator for c in (create, remove, document_applied)} == {"otto"}
    assert {c.source for c in (create, remove, document_applied)} == {"api"}
    assert create.lines[0] == "+ create buyers/gamma"
    assert "    buyers/gamma.contact_email: ops@gamma.example" in create.lines
    assert create.before == {"buyers/gamma": None}
    assert create.after["buyers/gamma"]["contact_email"] == "ops@gamma.example"
    assert remove.lines == ["- remove buyers/gamma"] and remove.after == {"buyers/gamma": None}
    assert document_applied.lines == ["- remove routes/pub:auto"]
    assert document_applied.before["routes/pub:auto"]["publisher"] == "pub"


async def test_a_refused_or_empty_api_change_leaves_no_history(engine: Harness) -> None:
    h = engine
    await configured(h)
    otto = _bearer(await add_operator(h.rt, "otto", Role.OPERATOR))
    spec = await _spec(h, otto, "buyers", "apex")
    mismatch = await h.client.put(
        "/api/v1/admin/buyers/other", json={**spec, "dedup_days": 3}, headers=otto
    )
    assert mismatch.status_code == 422
    same = await h.client.put("/api/v1/admin/buyers/apex", json=spec, headers=otto)
    assert same.status_code == 200
    whole = (await h.client.get("/api/v1/admin/config", headers=otto)).json()
    whole.pop("version")
    dry = await h.client.post(
        "/api/v1/admin/config?dry_run=true", json={**whole, "routes": []}, headers=otto
    )
    assert dry.status_code == 200 and dry.json()["remove"] == ["routes/pub:auto"]
    assert await made(h) == []


async def test_console_changes_name_their_operator_in_the_audit_trail_too(
    engine: Harness,
) -> None:
    h = engine
    await configured(h)
    console = await operator(h)
    r = await console.submit(
        "/console/config/buyers/apex/active", {"active": "false"}, opened="/console/config/buyers"
    )
    assert r.status_code == 303
    (change,) = await made(h)
    assert (change.operator, change.source) == ("admin-token", "console")
    events = await h.client.get(
        "/api/v1/admin/audit",
        params={"kind": "config_changed", "subject": "buyers/apex"},
        headers=_bearer(ADMIN_TOKEN),
    )
    assert events.status_code == 200, events.text
    # The harness's set-up created it (the system); the console changed it (the operator).
    assert [e["actor"] for e in events.json()] == ["operator:admin-token", "unknown"]
