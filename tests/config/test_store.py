"""The stored configuration on SQLite and PostgreSQL: exact money, versions that move on change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pingtree.config.document import ConfigDocument
from pingtree.config.errors import ConfigError
from pingtree.config.files import load_file, parse_document
from pingtree.config.store import (
    apply_document,
    current_version,
    delete_resource,
    load_document,
    put_resource,
)
from pingtree.delivery.destinations import Allowlist
from pingtree.publishers.model import hash_api_key
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.tables import ConfigResource
from tests.config.conftest import DEMO, DEMO_SIMULATOR

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
POST = {
    "url": "https://buyer.example/post",
    "response": {"rules": [{"source": "status", "equals": "200", "outcome": "accepted"}]},
}


def _doc(**overrides: Any) -> dict[str, Any]:
    """A small document with money in every place money goes; names sorted within each kind."""
    data: dict[str, Any] = {
        "verticals": [
            {
                "name": "auto",
                "fields": [
                    {"name": "email", "type": "email", "required": True, "pii": True},
                    {"name": "zip", "type": "zip"},
                    {"name": "income", "type": "number", "min": "0.01", "max": "999999.99"},
                ],
            }
        ],
        "publishers": [
            {
                "name": "pub",
                "payout": {"type": "fixed", "amount": "6.10"},
                "api_key_sha256": hash_api_key("k" * 20),
            },
            {
                "name": "share",
                "payout": {"type": "revenue_share", "percent": "62.5"},
                "api_key_sha256": hash_api_key("s" * 20),
            },
        ],
        "buyers": [{"name": "acme"}],
        "campaigns": [
            {
                "name": "acme-bid",
                "buyer": "acme",
                "vertical": "auto",
                "filters": [{"field": "income", "op": "range", "min": "1000.5", "max": "2000.25"}],
                "price": {"type": "bid", "floor": "0.99"},
                "caps": {"daily": 10, "budget": {"daily": "1000.05", "monthly": "20000.10"}},
                "delivery": {"ping": POST, "post": POST},
            },
            {
                "name": "acme-fixed",
                "buyer": "acme",
                "vertical": "auto",
                "price": {"type": "fixed", "amount": "12.34"},
                "delivery": {"post": POST},
            },
        ],
        "trees": [
            {
                "name": "main",
                "vertical": "auto",
                "tiers": [
                    {
                        "name": "t1",
                        "flow": "ping_post",
                        "floor": "7.77",
                        "campaigns": [{"campaign": "acme-bid"}, {"campaign": "acme-fixed"}],
                    }
                ],
            }
        ],
        "routes": [{"publisher": "pub", "vertical": "auto", "tree": "main"}],
    }
    data.update(overrides)
    return data


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield sessions(engine)
    await engine.dispose()


async def _apply(
    db: async_sessionmaker[AsyncSession], document: ConfigDocument, **kw: Any
) -> list[str]:
    async with db() as session, session.begin():
        plan = await apply_document(session, document, now=NOW, **kw)
    return plan.lines()


async def _load(db: async_sessionmaker[AsyncSession]) -> tuple[ConfigDocument, int]:
    async with db() as session:
        return await load_document(session)


async def test_round_trip_keeps_money_exact(db: async_sessionmaker[AsyncSession]) -> None:
    document = parse_document(_doc())
    await _apply(db, document)
    loaded, version = await _load(db)
    assert version == 1
    assert loaded == document

    fixed = next(c for c in loaded.campaigns if c.name == "acme-fixed")
    bid = next(c for c in loaded.campaigns if c.name == "acme-bid")
    assert isinstance(fixed.price.amount, Decimal)
    assert str(fixed.price.amount) == "12.34"
    assert str(bid.price.floor) == "0.99"
    assert str(bid.caps.budget.daily) == "1000.05"
    assert str(bid.caps.budget.monthly) == "20000.10"
    assert bid.filters[0].min == Decimal("1000.5") and bid.filters[0].max == Decimal("2000.25")
    assert str(loaded.trees[0].tiers[0].floor) == "7.77"
    assert str(loaded.publishers[0].payout.amount) == "6.10"
    assert loaded.publishers[1].payout.percent == Decimal("62.5")

    async with db() as session:
        stored = await session.scalar(
            select(ConfigResource.spec).where(
                ConfigResource.kind == "campaigns", ConfigResource.name == "acme-fixed"
            )
        )
    assert stored is not None
    assert stored["price"]["amount"] == "12.34"  # a string in the JSON, never a float


async def test_yaml_floats_become_exact_money(
    db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    data = _doc()
    path = tmp_path / "money.yaml"
    data["campaigns"][1]["price"]["amount"] = 0.1  # float in YAML: 0.1000000000000000055...
    data["campaigns"][0]["caps"]["budget"]["daily"] = 1000.05
    path.write_text(yaml.safe_dump(data))
    await _apply(db, load_file(path))
    loaded, _ = await _load(db)
    fixed = next(c for c in loaded.campaigns if c.name == "acme-fixed")
    bid = next(c for c in loaded.campaigns if c.name == "acme-bid")
    assert fixed.price.amount == Decimal("0.10")
    assert bid.caps.budget.daily == Decimal("1000.05")


async def test_demo_round_trips_unchanged(db: async_sessionmaker[AsyncSession]) -> None:
    allow = Allowlist.parse(DEMO_SIMULATOR)
    document = load_file(DEMO, allow=allow)
    first = await _apply(db, document, allow=allow)
    assert len(first) == 22
    loaded, _ = await _load(db)
    assert await _apply(db, loaded, allow=allow) == ["no changes"]
    assert await _apply(db, document, allow=allow) == ["no changes"]


async def test_version_bumps_only_on_change(db: async_sessionmaker[AsyncSession]) -> None:
    async def version() -> int:
        async with db() as session:
            return await current_version(session)

    assert await version() == 0
    document = parse_document(_doc())
    await _apply(db, document)
    assert await version() == 1
    assert await _apply(db, document) == ["no changes"]
    assert await version() == 1

    changed = _doc()
    changed["campaigns"][1]["price"]["amount"] = "12.35"
    assert await _apply(db, parse_document(changed), dry_run=True) == [
        "~ change campaigns/acme-fixed",
        "    campaigns/acme-fixed.price.amount: 12.34 -> 12.35",
    ]
    assert await version() == 1
    assert await _apply(db, parse_document(changed)) == [
        "~ change campaigns/acme-fixed",
        "    campaigns/acme-fixed.price.amount: 12.34 -> 12.35",
    ]
    assert await version() == 2
    loaded, loaded_version = await _load(db)
    assert loaded_version == 2
    assert next(c for c in loaded.campaigns if c.name == "acme-fixed").price.amount == Decimal(
        "12.35"
    )

    # Money written differently but equal ("12.350" vs "12.35") is not a change.
    same = _doc()
    same["campaigns"][1]["price"]["amount"] = "12.350"
    assert await _apply(db, parse_document(same)) == ["no changes"]
    assert await version() == 2

    # put_resource: the same spec again changes nothing; a different one bumps.
    spec = changed["buyers"][0]
    async with db() as session, session.begin():
        _, plan = await put_resource(session, "buyers", spec, now=NOW)
    assert plan.empty
    assert await version() == 2
    async with db() as session, session.begin():
        _, plan = await put_resource(session, "buyers", {**spec, "active": False}, now=NOW)
    assert plan.lines() == ["~ change buyers/acme", "    buyers/acme.active: true -> false"]
    assert await version() == 3

    # delete_resource: a missing name changes nothing; a removal bumps.
    async with db() as session, session.begin():
        assert await delete_resource(session, "routes", "nobody:auto", now=NOW) is False
    assert await version() == 3
    async with db() as session, session.begin():
        assert await delete_resource(session, "routes", "pub:auto", now=NOW) is True
    assert await version() == 4

    # prune removes what the document leaves out, and that too is a change.
    smaller = {**changed, "buyers": [{**spec, "active": False}], "routes": [], "trees": []}
    assert await _apply(db, parse_document(smaller)) == ["- remove trees/main"]
    assert await version() == 5


async def test_delete_refused_while_referenced(db: async_sessionmaker[AsyncSession]) -> None:
    await _apply(db, parse_document(_doc()))
    async with db() as session, session.begin():
        with pytest.raises(ConfigError) as refused:
            await delete_resource(session, "buyers", "acme", now=NOW)
    assert {(i.path, i.reason) for i in refused.value.issues} == {
        ("campaigns/acme-bid.buyer", "still refers to buyers/acme"),
        ("campaigns/acme-fixed.buyer", "still refers to buyers/acme"),
    }
    loaded, version = await _load(db)
    assert [b.name for b in loaded.buyers] == ["acme"]
    assert version == 1


async def test_put_names_the_resource_with_a_bad_reference(
    db: async_sessionmaker[AsyncSession],
) -> None:
    await _apply(db, parse_document(_doc()))
    spec = {**_doc()["campaigns"][1], "name": "orphan", "buyer": "ghost"}
    async with db() as session, session.begin():
        with pytest.raises(ConfigError) as refused:
            await put_resource(session, "campaigns", spec, now=NOW)
    assert [(i.path, i.reason) for i in refused.value.issues] == [
        ("campaigns/orphan.buyer", "unknown buyer 'ghost'")
    ]
    loaded, version = await _load(db)
    assert "orphan" not in {c.name for c in loaded.campaigns}
    assert version == 1

    route = {"publisher": "share", "vertical": "auto", "tree": "nowhere"}
    async with db() as session, session.begin():
        with pytest.raises(ConfigError) as refused:
            await put_resource(session, "routes", route, now=NOW)
    assert [(i.path, i.reason) for i in refused.value.issues] == [
        ("routes/share:auto.tree", "unknown tree 'nowhere'")
    ]
