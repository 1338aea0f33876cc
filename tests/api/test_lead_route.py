"""POST /leads takes a well-formed lead the short way (no dependency solving), and answers
every other request exactly as FastAPI's way does."""

from __future__ import annotations

import json
from typing import Any

import fastapi.routing
import httpx
import pytest

from pingtree.api import leads
from tests.engine.conftest import Harness, sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, campaign, document, tier

GOOD = {"vertical": "auto", "fields": LEAD_FIELDS}
JSON = "application/json"


async def _configure(h: Harness) -> None:
    h.buyers(sim_buyer("acme"))
    await h.configure(document([campaign("acme", h.sim)], [tier("t1", "priority", ["acme"])]))


def _raw(payload: Any) -> bytes:
    return json.dumps(payload).encode()


# (what is wrong, headers, body): each a request FastAPI's way refuses or decides on.
CASES: list[tuple[str, dict[str, str], bytes]] = [
    ("no API key", {"Content-Type": JSON}, _raw(GOOD)),
    ("a wrong API key", {"X-API-Key": "nobody", "Content-Type": JSON}, _raw(GOOD)),
    ("no content type", {"X-API-Key": API_KEY}, _raw(GOOD)),
    ("text/plain", {"X-API-Key": API_KEY, "Content-Type": "text/plain"}, _raw(GOOD)),
    ("a charset", {"X-API-Key": API_KEY, "Content-Type": f"{JSON}; charset=utf-8"}, _raw(GOOD)),
    ("a +json type", {"X-API-Key": API_KEY, "Content-Type": "application/x+json"}, _raw(GOOD)),
    ("not JSON", {"X-API-Key": API_KEY, "Content-Type": JSON}, b'{"vertical": "auto",'),
    ("an empty body", {"X-API-Key": API_KEY, "Content-Type": JSON}, b""),
    ("a JSON array", {"X-API-Key": API_KEY, "Content-Type": JSON}, _raw([GOOD])),
    ("no vertical", {"X-API-Key": API_KEY, "Content-Type": JSON}, _raw({"fields": LEAD_FIELDS})),
    (
        "an unknown key and a bad test flag",
        {"X-API-Key": API_KEY, "Content-Type": JSON},
        _raw({**GOOD, "test": "maybe", "extra": 1}),
    ),
    (
        "fields not an object",
        {"X-API-Key": API_KEY, "Content-Type": JSON},
        _raw({"vertical": "auto", "fields": [1]}),
    ),
    (
        "an Idempotency-Key too long",
        {"X-API-Key": API_KEY, "Content-Type": JSON, "Idempotency-Key": "k" * 256},
        _raw(GOOD),
    ),
    (
        "a NUL escaped in a field",
        {"X-API-Key": API_KEY, "Content-Type": JSON},
        _raw({"vertical": "auto", "fields": {**LEAD_FIELDS, "first_name": "A\x00"}}),
    ),
    (
        "an unknown vertical",
        {"X-API-Key": API_KEY, "Content-Type": JSON},
        _raw({"vertical": "boats", "fields": LEAD_FIELDS}),
    ),
    (
        "a bad field value",
        {"X-API-Key": API_KEY, "Content-Type": JSON},
        _raw({"vertical": "auto", "fields": {**LEAD_FIELDS, "zip": "1"}}),
    ),
]


def _answer(response: httpx.Response) -> tuple[int, Any, str | None]:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict) and body.get("lead_id"):
        body["lead_id"] = "<lead>"  # a new lead each time
    return response.status_code, body, response.headers.get("retry-after")


@pytest.mark.parametrize(("case", "headers", "body"), CASES, ids=[c[0] for c in CASES])
async def test_a_request_answered_as_fastapi_answers_it(
    engine_sqlite: Harness,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    h = engine_sqlite
    await _configure(h)
    short = await h.client.post("/api/v1/leads", content=body, headers=headers)
    monkeypatch.setattr(leads, "_well_formed", _never)
    full = await h.client.post("/api/v1/leads", content=body, headers=headers)
    assert _answer(short) == _answer(full), case
    assert short.status_code != 500


async def _never(_: Any) -> None:
    return None  # FastAPI's way for every request


async def test_a_well_formed_lead_is_taken_without_dependency_solving(
    engine: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _configure(engine)

    async def solving(*_: Any, **__: Any) -> Any:
        raise AssertionError("the short way solves no dependency")

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", solving)
    key = {"Idempotency-Key": "lead-route-1"}
    first = await engine.post_lead(headers=key)
    assert first.status_code == 200 and first.json()["status"] == "sold", first.text
    again = await engine.post_lead(headers=key)  # the key reached take_lead
    assert again.json() == first.json()


async def test_the_short_way_counts_a_lead_against_the_rate_once(
    engine_sqlite: Harness,
) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("acme"))
    doc = document([campaign("acme", h.sim)], [tier("t1", "priority", ["acme"])])
    data = doc.model_dump(mode="json", exclude_none=True)
    data["publishers"][0]["rate_limit"] = "2/hour"
    await h.configure(type(doc).model_validate(data))
    answers = [(await h.post_lead()).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
