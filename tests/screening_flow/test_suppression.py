"""Suppression lists (do-not-contact): CSV upload and API, global/publisher/buyer scope."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.engine.conftest import Harness
from tests.screening_flow.flow import (
    LEAD,
    OTHER_KEY,
    admin,
    codes,
    person,
    posts,
    sha256,
    two_buyers,
)

POLICY: dict[str, Any] = {"checks": [{"check": "invalid_email"}, {"check": "invalid_phone"}]}

CSV = (
    "email,phone\n"
    "Ada.Lovelace@Example.COM,\n"  # LEAD's email, written otherwise
    ",(212) 736-5001\n"  # person(1)'s phone
    "not-an-email,\n"
    "grace.hopper@example.com,+1 212 736 5009\n"
)
RAW = (
    "ada.lovelace@example.com",
    "lovelace",
    "grace.hopper",
    "hopper",
    "736-5001",
    "2127365001",
    "+12127365001",
    "2127365009",
)


async def _rows(h: Harness) -> list[dict[str, Any]]:
    async with h.rt.sessions() as session:
        result = await session.execute(text("SELECT * FROM suppression_entries"))
        return [dict(row._mapping) for row in result]


async def _upload(h: Harness, body: str, **params: str) -> dict[str, Any]:
    files = {"file": ("dnc.csv", body.encode(), "text/csv")}
    response = await admin(h, "POST", "/suppressions/upload", params=params, files=files)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_a_global_csv_list_rejects_the_people_on_it(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening=POLICY)
    uploaded = await _upload(h, CSV, scope="global")
    assert uploaded["received"] == 5 and uploaded["added"] == 4
    assert uploaded["already_listed"] == 0
    assert uploaded["bad_rows"] == ["line 4: not a valid email"]  # the value is not echoed

    listed = await h.post_lead(LEAD)
    assert listed.status_code == 200
    answer = listed.json()
    assert answer["status"] == "rejected" and codes(answer) == ["suppressed"]
    assert "global" in answer["reasons"][0]["message"]
    by_phone = (await h.post_lead(person(1))).json()
    assert codes(by_phone) == ["suppressed"]
    assert posts(h, "alpha", "beta") == 0  # nobody on the list reaches a buyer

    story = await h.timeline(answer["lead_id"])
    assert story["status"] == "rejected" and codes(story) == ["suppressed"]
    assert [f["code"] for f in story["screening"]["findings"]] == ["suppressed"]
    assert story["attempts"] == []

    clean = (await h.post_lead(person(2))).json()
    assert clean["status"] == "sold" and posts(h, "alpha") == 1

    again = await _upload(h, CSV, scope="global")
    assert again["added"] == 0 and again["already_listed"] == 4
    lists = await admin(h, "GET", "/suppressions")
    assert lists.json() == [{"scope": "global", "owner": "", "entries": 4}]

    # Only SHA-256 of the normalised values is stored, nothing readable.
    rows = await _rows(h)
    assert {(r["value_hash"], r["kind"]) for r in rows} == {
        (sha256("ada.lovelace@example.com"), "email"),
        (sha256("grace.hopper@example.com"), "email"),
        (sha256("+12127365001"), "phone"),
        (sha256("+12127365009"), "phone"),
    }
    for row in rows:
        for value in row.values():
            assert not any(raw in str(value).lower() for raw in RAW), row

    removed = await admin(
        h, "DELETE", "/suppressions", json={"scope": "global", "emails": [LEAD["email"]]}
    )
    assert removed.json() == {"removed": 1}
    assert (await h.post_lead(LEAD)).json()["status"] == "sold"


async def test_a_headerless_csv_of_one_column_is_read_too(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await two_buyers(h, screening=POLICY)
    uploaded = await _upload(h, "ada.lovelace@example.com\n(212) 736-5001\n\n", scope="global")
    assert uploaded["added"] == 2 and uploaded["bad_rows"] == []
    assert codes((await h.post_lead(LEAD)).json()) == ["suppressed"]
    assert codes((await h.post_lead(person(1))).json()) == ["suppressed"]


async def test_a_publisher_list_rejects_only_that_publishers_leads(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening=POLICY)
    added = await admin(
        h,
        "POST",
        "/suppressions",
        json={"scope": "publisher", "owner": "pub", "phones": ["+1 212 736 5000"]},
    )
    assert added.status_code == 200 and added.json()["added"] == 1

    ours = (await h.post_lead(LEAD)).json()
    assert ours["status"] == "rejected" and codes(ours) == ["suppressed"]
    assert "publisher" in ours["reasons"][0]["message"]
    assert posts(h, "alpha", "beta") == 0
    # The other publisher's list does not hold this person.
    theirs = (await h.post_lead(LEAD, headers={"X-API-Key": OTHER_KEY})).json()
    assert theirs["status"] == "sold" and posts(h, "alpha") == 1

    rows = await _rows(h)
    assert [(r["scope"], r["owner"], r["value_hash"]) for r in rows] == [
        ("publisher", "pub", sha256("+12127365000"))
    ]


async def test_a_buyer_list_skips_only_that_buyer(engine: Harness) -> None:
    h = engine
    await two_buyers(h, screening=POLICY)
    await _upload(h, "email\nada.lovelace@example.com\n", scope="buyer", owner="alpha")

    answer = (await h.post_lead(LEAD)).json()
    assert answer["status"] == "sold"  # a buyer's list skips that buyer, not the lead
    story = await h.timeline(answer["lead_id"])
    assert [s["buyer"] for s in story["sales"]] == ["beta"]
    [skip] = story["skipped"]
    assert skip["campaign"] == "alpha" and skip["reason"] == "blocked"
    assert "suppressed" in skip["detail"] and "do-not-contact" in skip["detail"]
    assert posts(h, "alpha") == 0 and posts(h, "beta") == 1

    other = (await h.post_lead(person(3))).json()
    assert [s["buyer"] for s in (await h.timeline(other["lead_id"]))["sales"]] == ["alpha"]


async def test_lists_need_a_real_owner_and_an_admin(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await two_buyers(h, screening=POLICY)
    for body in (
        {"scope": "publisher", "owner": "nobody", "emails": ["a@example.com"]},
        {"scope": "buyer", "owner": "", "emails": ["a@example.com"]},
        {"scope": "global", "owner": "pub", "emails": ["a@example.com"]},
    ):
        response = await admin(h, "POST", "/suppressions", json=body)
        assert response.status_code == 422 and codes(response.json()) == ["invalid_owner"]
    anonymous = await h.client.get("/api/v1/admin/suppressions")
    assert anonymous.status_code == 401
    assert await _rows(h) == []


async def test_a_policy_may_switch_suppression_off(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    await two_buyers(h, screening={**POLICY, "suppression": {"enabled": False}})
    await _upload(h, CSV, scope="global")
    assert (await h.post_lead(LEAD)).json()["status"] == "sold"
