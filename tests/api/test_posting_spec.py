"""The posting spec: generated from the configuration in force, served as Markdown by the
admin API and as a page (and a download) by the console."""

from __future__ import annotations

import copy
from typing import Any

from pingtree.leads.reasons import REASON_CODES
from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import VERTICAL, campaign, document, tier

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _doc(h: Harness, vertical: dict[str, Any] | None = None) -> Any:
    return document(
        [campaign("alpha", h.sim)], [tier("t1", "priority", ["alpha"])], vertical=vertical
    )


async def test_the_spec_names_fields_answers_and_every_reason_code(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("alpha"))
    await h.configure(_doc(h))
    got = await h.client.get("/api/v1/admin/publishers/pub/spec", headers=ADMIN)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/markdown")
    text = got.text
    assert "## Vertical `auto`" in text
    assert "`POST http://pingtree.test/api/v1/leads`" in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| `")}
    assert rows["| `age`"] == "| `age` | integer | no | - | 18 <= x <= 100 | - | `59` |"
    assert rows["| `credit`"].startswith(
        "| `credit` | string | no | `excellent`, `good`, `fair`, `poor` |"
    )
    assert "matches `\\d{3}-\\d{2}-\\d{4}`" in rows["| `ssn`"]
    assert rows["| `email`"].startswith("| `email` | email (PII) | yes |")
    # the ping sends no PII: only zip, state, age and credit
    assert "(`zip`, `state`, `age`, `credit`)" in text
    assert "`POST http://pingtree.test/api/v1/pings`" in text
    assert "`POST http://pingtree.test/api/v1/posts`" in text
    for reason in REASON_CODES:
        assert f"| `{reason.code}` | {reason.answer} | {reason.meaning} |" in text


async def test_the_spec_changes_with_the_configuration(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("alpha"))
    await h.configure(_doc(h))
    vertical = copy.deepcopy(VERTICAL)
    age = next(f for f in vertical["fields"] if f["name"] == "age")
    age.update(min=21, aliases=["applicantAge"], required=True)
    await h.configure(_doc(h, vertical))
    text = (await h.client.get("/api/v1/admin/publishers/pub/spec", headers=ADMIN)).text
    assert "| `age` | integer | yes | - | 21 <= x <= 100 | `applicantAge` | `60` |" in text


async def test_unknown_publisher_or_unrouted_vertical_is_404(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("alpha"))
    await h.configure(_doc(h))
    for url in (
        "/api/v1/admin/publishers/nobody/spec",
        "/api/v1/admin/publishers/pub/spec?vertical=solar",
    ):
        got = await h.client.get(url, headers=ADMIN)
        assert got.status_code == 404, got.text
        assert got.json()["reasons"][0]["code"] == "not_found"
    assert (await h.client.get("/api/v1/admin/publishers/pub/spec")).status_code == 401


async def test_the_console_shows_the_spec_and_offers_it_as_markdown(
    engine_sqlite: Harness,
) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("alpha"))
    await h.configure(_doc(h))
    page = await h.client.get("/console/publishers/pub/spec", headers=ADMIN)
    assert page.status_code == 200, page.text
    assert "Posting specification for pub" in page.text
    assert 'href="/console/publishers/pub/spec.md"' in page.text
    download = await h.client.get("/console/publishers/pub/spec.md?vertical=auto", headers=ADMIN)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/markdown")
    assert download.headers["content-disposition"] == 'attachment; filename="pub-auto-spec.md"'
    api = await h.client.get("/api/v1/admin/publishers/pub/spec?vertical=auto", headers=ADMIN)
    assert download.text == api.text
    missing = await h.client.get("/console/publishers/nobody/spec", headers=ADMIN)
    assert missing.status_code == 404
    config = await h.client.get("/console/config", headers=ADMIN)
    assert '/console/publishers/pub/spec?vertical=auto"' in config.text
