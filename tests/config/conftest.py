"""The `pingtree` command run in-process against a real database, and the demo file to edit."""

from __future__ import annotations

import asyncio
import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner, Result

from pingtree.cli import app
from pingtree.config.store import current_version
from pingtree.storage.db import create_engine, sessions
from pingtree.storage.tables import ConfigResource

POSITION = re.compile(r"^(.*?):\d+:\d+: ")


def issue_lines(stderr: str) -> list[str]:
    """The issues printed, each as `file: path: reason` (line and column left out)."""
    return [POSITION.sub(r"\1: ", line) for line in stderr.splitlines()]


DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"
SECRET_KEY = "xXdWs2Zrj1kU9GkY7m0bM0yqg8W2k5QhZl7tC3n4pVo="
DEMO_SIMULATOR = "127.0.0.1:9100"
"""Where the demo's buyers (examples/simulator.yaml) listen: allowed as the demo allows it."""


def demo_data() -> dict[str, Any]:
    """The demo file, parsed (a fresh copy to edit)."""
    data: dict[str, Any] = yaml.safe_load(DEMO.read_text())
    return copy.deepcopy(data)


class Cli:
    """Runs `pingtree ...` with its settings pointed at one database; reads that database."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, list(args))

    def write(self, data: dict[str, Any], name: str = "config.yaml") -> str:
        """Write a configuration file under tmp_path; its path as a string."""
        path = self.tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return str(path)

    def rows(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every stored resource's spec, by (kind, name)."""

        async def read() -> dict[tuple[str, str], dict[str, Any]]:
            engine = create_engine(self.database_url)
            try:
                async with sessions(engine)() as session:
                    found = (await session.scalars(select(ConfigResource))).all()
                    return {(r.kind, r.name): r.spec for r in found}
            finally:
                await engine.dispose()

        return asyncio.run(read())

    def version(self) -> int:
        """The stored configuration version."""

        async def read() -> int:
            engine = create_engine(self.database_url)
            try:
                async with sessions(engine)() as session:
                    return await current_version(session)
            finally:
                await engine.dispose()

        return asyncio.run(read())


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`pingtree` on each database backend (PINGTREE_DATABASE_URL), data dir under tmp_path."""
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    monkeypatch.setenv("PINGTREE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PINGTREE_DATABASE_URL", database_url)
    monkeypatch.setenv("PINGTREE_BUYER_URL_ALLOW", DEMO_SIMULATOR)
    monkeypatch.setenv("PINGTREE_SECRET_KEY", SECRET_KEY)
    return Cli(tmp_path, database_url)
