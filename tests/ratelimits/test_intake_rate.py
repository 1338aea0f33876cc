"""A publisher over its intake rate gets 429 with Retry-After; no lead is stored for it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from pingtree.config.document import ConfigDocument
from pingtree.storage.tables import Lead
from tests.engine.conftest import Harness, _harness, sim_buyer
from tests.factories import API_KEY, LEAD_FIELDS, campaign, document, tier

OTHER_KEY = "other-publisher-key-0000000000"


def _config(h: Harness, rate: str | None) -> ConfigDocument:
    h.buyers(sim_buyer("acme"))
    doc = document([campaign("acme", h.sim, bid=True)], [tier("t1", "ping_post", ["acme"])])
    data = doc.model_dump(mode="json", exclude_none=True)
    data["publishers"][0]["rate_limit"] = rate
    data["publishers"].append({"name": "other", "api_key": OTHER_KEY})
    data["routes"].append({"publisher": "other", "vertical": "auto", "tree": "main"})
    return ConfigDocument.model_validate(data)


async def _stored(h: Harness) -> int:
    async with h.rt.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)


async def test_a_publisher_over_its_rate_gets_429_and_nothing_is_stored(
    limited_db: Harness,
) -> None:
    h = limited_db
    await h.configure(_config(h, "3/hour"))
    answers = [await h.post_lead() for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    for refused in answers[3:]:
        assert 1 <= int(refused.headers["retry-after"]) <= 3600
        body = refused.json()
        assert body["lead_id"] is None and body["status"] == "rejected"
        assert body["reasons"][0]["code"] == "rate_limited"
    assert await _stored(h) == 3
    # Pings count against the same rate.
    ping = await h.client.post(
        "/api/v1/pings",
        json={"vertical": "auto", "fields": {"zip": "10001", "state": "NY"}},
        headers={"X-API-Key": API_KEY},
    )
    assert ping.status_code == 429
    # Another publisher has its own count.
    other = await h.client.post(
        "/api/v1/leads",
        json={"vertical": "auto", "fields": LEAD_FIELDS},
        headers={"X-API-Key": OTHER_KEY},
    )
    assert other.status_code == 200
    assert await _stored(h) == 4


async def test_concurrent_leads_over_the_rate_store_exactly_the_rate(limited_db: Harness) -> None:
    h = limited_db
    await h.configure(_config(h, "5/hour"))
    answers = await asyncio.gather(*(h.post_lead() for _ in range(20)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 5 + [429] * 15
    assert await _stored(h) == 5


async def test_the_setting_is_the_default_rate(
    sqlite_url: str, rate_limit_storage: dict[str, Any]
) -> None:
    async for h in _harness(sqlite_url, publisher_rate_limit="2/hour", **rate_limit_storage):
        await h.configure(_config(h, None))
        codes = [(await h.post_lead()).status_code for _ in range(3)]
        assert codes == [200, 200, 429]


async def test_workers_sharing_redis_share_one_count(
    sqlite_url: str, rate_limit_storage: dict[str, Any]
) -> None:
    """Two runtimes stand for two worker processes: each has its own limiter object."""
    if rate_limit_storage["redis_url"] is None:
        pytest.skip("only Redis is shared between processes")
    first = _harness(sqlite_url, **rate_limit_storage)
    second = _harness(sqlite_url, **rate_limit_storage)
    a = await anext(first)
    b = await anext(second)
    try:
        await a.configure(_config(a, "4/hour"))
        await b.rt.reload_config()
        codes = [(await h.post_lead()).status_code for h in (a, b, a, b, a, b)]
        assert codes == [200, 200, 200, 200, 429, 429]
    finally:
        for gen in (first, second):
            with pytest.raises(StopAsyncIteration):
                await anext(gen)


def test_a_rate_that_is_not_one_is_refused_with_its_path() -> None:
    data = {"publishers": [{"name": "p", "rate_limit": "lots"}]}
    with pytest.raises(ValidationError) as caught:
        ConfigDocument.model_validate(data)
    assert "rate_limit" in str(caught.value) and "'50/second'" in str(caught.value)
    with pytest.raises(ValidationError):
        ConfigDocument.model_validate({"publishers": [{"name": "p", "rate_limit": "0/second"}]})


async def test_leads_still_come_in_when_redis_is_down(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: every count fails at once, and the lead is worth more.
    async for h in _harness(sqlite_url, redis_url="redis://127.0.0.1:1/0"):
        await h.configure(_config(h, "1/hour"))
        codes = [(await h.post_lead()).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        assert "intake of pub not limited" in caplog.text


def test_an_empty_setting_means_no_default_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    from pingtree.settings import Settings

    monkeypatch.setenv("PINGTREE_PUBLISHER_RATE_LIMIT", "")
    monkeypatch.setenv("PINGTREE_REDIS_URL", "")
    settings = Settings()
    assert settings.publisher_rate_limit is None and settings.redis_url is None
    monkeypatch.setenv("PINGTREE_PUBLISHER_RATE_LIMIT", "5 per minute")
    assert Settings().publisher_rate_limit == "5 per minute"
    monkeypatch.setenv("PINGTREE_PUBLISHER_RATE_LIMIT", "often")
    with pytest.raises(ValidationError):
        Settings()
