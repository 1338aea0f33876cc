"""Migrations run from empty, and down and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from pingtree.storage.db import create_engine
from pingtree.storage.migrate import alembic_config, upgrade
from pingtree.storage.tables import Base


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_schema_matches_the_models_after_migrating(database_url: str) -> None:
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        tables = await conn.run_sync(_tables)
    await engine.dispose()
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


async def test_downgrade_to_empty_and_upgrade_again(database_url: str) -> None:
    engine = create_engine(database_url)

    def down(connection: Connection) -> None:
        cfg = alembic_config(database_url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")

    async with engine.begin() as conn:
        await conn.run_sync(down)
    async with engine.connect() as conn:
        left = await conn.run_sync(_tables)
    await engine.dispose()
    assert left <= {"alembic_version"}
    await upgrade(database_url)
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        tables = await conn.run_sync(_tables)
    await engine.dispose()
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
