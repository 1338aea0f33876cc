"""No PII in logs: each error path, provoked with a lead full of PII, logs none of it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import text

from pingtree.config.document import ConfigDocument
from tests.engine.conftest import Harness, sim_buyer
from tests.factories import LEAD_FIELDS, campaign, document, tier

STREET = "4417 Quarrington Crescent"
FIRST_NAME = "Wilhelmina"
EMAIL = "wilhelmina.quarrington@example.com"
PHONE_DIGITS = "7365000"
PII_LEAD: dict[str, Any] = {
    **LEAD_FIELDS,
    "first_name": FIRST_NAME,
    "email": EMAIL,
    "phone": "(212) 736-5000",
    "street": STREET,
}
NEEDLES = (STREET, "Quarrington", FIRST_NAME, EMAIL, PHONE_DIGITS, "736-5000", "123-45-6789")


def _with_street(doc: ConfigDocument) -> ConfigDocument:
    data = doc.model_dump(mode="json", exclude_none=True)
    data["verticals"][0]["fields"].append({"name": "street", "pii": True})
    return ConfigDocument.model_validate(data)


async def _setup(h: Harness, **campaign_extra: Any) -> None:
    h.buyers(sim_buyer("b"))
    doc = document([campaign("b", h.sim, **campaign_extra)], [tier("t", "priority", ["b"])])
    await h.configure(_with_street(doc))


def _assert_clean(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    out, err = capsys.readouterr()
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records) + out + err
    found = [needle for needle in NEEDLES if needle in logged]
    assert not found, f"PII in the log: {found}\n{logged}"


@asynccontextmanager
async def _ddl(h: Harness, apply: str, undo: str) -> AsyncIterator[None]:
    async with h.rt.engine.begin() as conn:
        await conn.execute(text(apply))
    try:
        yield
    finally:
        async with h.rt.engine.begin() as conn:
            await conn.execute(text(undo))


def _integrity_probe(dialect: str) -> tuple[str, str]:
    if dialect == "postgresql":
        # PostgreSQL's DETAIL repeats the whole failing row, the lead's fields included.
        return (
            "ALTER TABLE leads ADD CONSTRAINT pii_probe CHECK (false) NOT VALID",
            "ALTER TABLE leads DROP CONSTRAINT pii_probe",
        )
    return (
        "CREATE TRIGGER pii_probe BEFORE INSERT ON leads BEGIN SELECT RAISE(ABORT, 'no'); END",
        "DROP TRIGGER pii_probe",
    )


async def test_database_integrity_error_logs_no_pii(
    engine: Harness, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    h = engine
    await _setup(h)
    caplog.set_level(logging.DEBUG)
    async with _ddl(h, *_integrity_probe(h.rt.engine.dialect.name)):
        response = await h.post_lead(PII_LEAD)
    assert response.status_code == 503
    assert response.json()["reasons"][0]["code"] == "unavailable"
    assert "IntegrityError" in caplog.text  # the path was taken, and says what failed
    assert "Quarrington" not in response.text
    _assert_clean(caplog, capsys)
    assert h.sim.received("b") == []


async def test_database_failing_mid_statement_logs_no_pii(
    engine: Harness, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    h = engine
    await _setup(h)
    caplog.set_level(logging.DEBUG)
    rename = "ALTER TABLE leads RENAME TO leads_away"
    async with _ddl(h, rename, "ALTER TABLE leads_away RENAME TO leads"):
        response = await h.post_lead(PII_LEAD)
    assert response.status_code == 503
    assert "unexpected error on POST /api/v1/leads" in caplog.text
    _assert_clean(caplog, capsys)


async def test_routing_exception_logs_no_pii(
    engine_sqlite: Harness, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    h = engine_sqlite
    # The template fails with the lead's first name in the exception's message.
    h.buyers(sim_buyer("b"))
    broken = campaign("b", h.sim)
    broken["delivery"]["post"]["template"] = "{{ lead[lead.first_name].x }}"
    doc = document([broken], [tier("t", "priority", ["b"])])
    await h.configure(_with_street(doc))
    caplog.set_level(logging.DEBUG)
    response = await h.post_lead(PII_LEAD)
    assert response.status_code == 200
    assert response.json()["reasons"][0]["code"] == "internal_error"
    assert "routing failed for lead" in caplog.text and "UndefinedError" in caplog.text
    _assert_clean(caplog, capsys)


async def test_validation_errors_log_no_pii(
    engine_sqlite: Harness, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    h = engine_sqlite
    await _setup(h)
    caplog.set_level(logging.DEBUG)
    bad_field = await h.post_lead({**PII_LEAD, "email": f"{FIRST_NAME} at {STREET}"})
    assert bad_field.status_code == 422
    bad_body = await h.post_lead(PII_LEAD, test=STREET)
    assert bad_body.status_code == 422
    _assert_clean(caplog, capsys)
