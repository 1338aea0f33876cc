"""Bring a database to the newest schema with Alembic, from empty or from any older version."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from pingtree.storage.db import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser escaping
    return cfg


async def upgrade(url: str, revision: str = "head") -> None:
    """Run every migration up to revision."""
    cfg = alembic_config(url)
    engine = create_engine(url)

    def _go(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(_go)
    finally:
        await engine.dispose()


def upgrade_blocking(url: str) -> None:
    """upgrade() for the CLI."""
    asyncio.run(upgrade(url))
