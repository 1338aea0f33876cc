"""Text no database can store (NUL, lone surrogates) is a 4xx before any database access;
Unicode digits in numeric, ZIP and phone fields are sold as ASCII digits."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, campaign, document, tier

PUBLISHER = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NUL = "\x00"
SURROGATE = "\ud800"


async def _configure(h: Harness) -> None:
    h.buyers(sim_buyer("acme"))
    await h.configure(document([campaign("acme", h.sim)], [tier("t1", "priority", ["acme"])]))


def _raw(payload: dict[str, Any]) -> bytes:
    # json.dumps escapes a lone surrogate as \ud800, as a hostile client would send it.
    return json.dumps(payload).encode()


async def _post(h: Harness, path: str, payload: dict[str, Any]) -> httpx.Response:
    return await h.client.post(path, content=_raw(payload), headers=PUBLISHER)


def _fields_named(response: httpx.Response) -> list[str]:
    return [reason["field"] for reason in response.json()["reasons"]]


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize("where", ["first_name", "zip"])
async def test_unstorable_text_in_a_lead_field_is_a_422_naming_it(
    engine: Harness, bad: str, where: str
) -> None:
    await _configure(engine)
    fields = {**LEAD_FIELDS, where: f"Ad{bad}a"}
    r = await _post(engine, "/api/v1/leads", {"vertical": "auto", "fields": fields})
    assert r.status_code == 422, r.text
    assert _fields_named(r) == [f"fields.{where}"]
    # The same connection (and app) goes on: a good lead is sold.
    ok = await engine.post_lead()
    assert ok.status_code == 200 and ok.json()["status"] == "sold"


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_unstorable_text_anywhere_in_a_body_is_named(engine: Harness, bad: str) -> None:
    await _configure(engine)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/api/v1/leads", {"vertical": "auto", "fields": {**LEAD_FIELDS, f"x{bad}": 1}}, "fields"),
        ("/api/v1/leads", {"vertical": f"auto{bad}", "fields": LEAD_FIELDS}, "vertical"),
        ("/api/v1/pings", {"vertical": "auto", "fields": {"zip": f"1{bad}"}}, "fields.zip"),
        ("/api/v1/posts", {"ping_id": f"p{bad}", "fields": LEAD_FIELDS}, "ping_id"),
    ]
    for path, payload, field in cases:
        r = await _post(engine, path, payload)
        assert r.status_code == 422, (path, r.text)
        assert _fields_named(r) == [field], path


async def test_a_nul_in_an_id_is_a_404(engine: Harness) -> None:
    await _configure(engine)
    r = await engine.client.get("/api/v1/leads/abc%00def", headers=PUBLISHER)
    assert r.status_code == 404, r.text
    assert r.json()["reasons"][0]["code"] == "not_found"
    r = await engine.client.get("/api/v1/admin/leads/%00", headers=ADMIN)
    assert r.status_code == 404, r.text
    r = await engine.client.post("/api/v1/admin/review/x%00/approve", headers=ADMIN)
    assert r.status_code == 404, r.text


async def test_a_nul_in_a_query_parameter_is_a_422_naming_it(engine: Harness) -> None:
    await _configure(engine)
    r = await engine.client.get("/api/v1/admin/leads?status=%00", headers=ADMIN)
    assert r.status_code == 422, r.text
    assert _fields_named(r) == ["status"]
    r = await engine.client.get("/api/v1/admin/leads?status=sold&publisher=p%00", headers=ADMIN)
    assert r.status_code == 422, r.text
    assert _fields_named(r) == ["publisher"]


async def test_unstorable_text_in_an_admin_body_is_a_422(engine: Harness) -> None:
    await _configure(engine)
    spec = {"name": "p2", "payout": {"type": "fixed", "amount": "1.00"}, "api_key": "k" * 20}
    for bad in (NUL, SURROGATE):
        body = {**spec, "api_key": f"{'k' * 20}{bad}"}
        r = await engine.client.put(
            "/api/v1/admin/publishers/p2", content=_raw(body), headers=ADMIN
        )
        assert r.status_code == 422, r.text
        assert _fields_named(r) == ["api_key"]
    r = await engine.client.request(
        "DELETE",
        "/api/v1/admin/suppressions",
        content=_raw({"scope": "publisher", "owner": f"p{NUL}", "emails": ["a@example.com"]}),
        headers=ADMIN,
    )
    assert r.status_code == 422, r.text


async def test_unicode_digits_are_sold_as_ascii_digits(engine: Harness) -> None:
    await _configure(engine)
    fields = {
        **LEAD_FIELDS,
        "zip": "١٠٠٠١",  # Arabic-Indic 10001
        "phone": "（２１２）７３６－５０００",  # full-width (212)736-5000
        "age": "３６",
    }
    r = await engine.post_lead(fields)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "sold"
    sent = engine.sim.received("acme")[-1].body
    assert sent["zip"] == "10001"
    assert sent["phone"] == "(212)736-5000"
    assert sent["age"] == 36
    stored = (await engine.timeline(r.json()["lead_id"]))["fields"]
    assert (stored["zip"], stored["phone"], stored["age"]) == ("10001", "(212)736-5000", 36)


async def test_a_field_regex_matches_ascii_digits_only(engine_sqlite: Harness) -> None:
    await _configure(engine_sqlite)
    # ssn's regex is \d{3}-\d{2}-\d{4}: an operator means 0-9 there.
    r = await engine_sqlite.post_lead({**LEAD_FIELDS, "ssn": "١٢٣-٤٥-٦٧٨٩"})
    assert r.status_code == 422
    assert _fields_named(r) == ["ssn"]


async def test_every_json_body_is_checked_for_unstorable_text(engine_sqlite: Harness) -> None:
    """Walks the OpenAPI document, so an operation added later is covered too."""
    await _configure(engine_sqlite)
    spec = (await engine_sqlite.client.get("/openapi.json")).json()
    tried = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            url = re.sub(r"\{[^}]+\}", "x", path)
            body = _raw({"fields": {"zip": NUL}})
            headers = {**PUBLISHER, **ADMIN}
            r = await engine_sqlite.client.request(method, url, content=body, headers=headers)
            assert r.status_code == 422, (method, path, r.text)
            assert _fields_named(r) == ["fields.zip"], (method, path)
            tried += 1
    assert tried >= 8


async def test_a_nul_escaped_in_a_utf16_body_is_refused_too(engine_sqlite: Harness) -> None:
    # Only a body with a \u escape or a NUL byte is searched for unstorable text; JSON in
    # UTF-16 (which json.loads reads) has NUL bytes, so its escapes are searched as well.
    await _configure(engine_sqlite)
    fields = {**LEAD_FIELDS, "first_name": f"Ad{NUL}a"}
    body = json.dumps({"vertical": "auto", "fields": fields}).encode("utf-16")
    r = await engine_sqlite.client.post("/api/v1/leads", content=body, headers=PUBLISHER)
    assert r.status_code == 422, r.text
    assert _fields_named(r) == ["fields.first_name"]
