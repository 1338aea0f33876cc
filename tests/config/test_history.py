"""The configuration's history: each applied change with its operator, newest first; what
`pingtree apply` and `pingtree secrets rotate-key` change is in it (the console's and the
admin API's: tests/console/test_console_history.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from pingtree.config import history
from pingtree.config.store import lock_configuration
from pingtree.storage.db import create_engine, sessions
from tests.config.conftest import DEMO, SECRET_KEY, Cli, demo_data
from tests.config.test_secrets import DEMO_CREDENTIALS, NEW_KEY

AT = datetime(2026, 11, 25, 12, tzinfo=UTC)


async def test_changes_are_recorded_redacted_and_read_back_newest_first(database_url: str) -> None:
    engine = create_engine(database_url)
    make = sessions(engine)
    clear = {"name": "c", "delivery": {"auth": {"type": "bearer", "token": "in-clear"}}}
    async with make() as session, session.begin():
        await lock_configuration(session)
        for i in range(3):
            await history.record_change(
                session,
                operator=f"op{i}",
                source="console",
                now=AT + timedelta(minutes=i),
                lines=[f"~ change campaigns/c{i}"],
                before={f"campaigns/c{i}": None},
                after={f"campaigns/c{i}": clear},
            )
    async with make() as session:
        newest = await history.changes(session, limit=2)
        older = await history.changes(session, limit=2, before_id=newest[-1].id)
        count = await history.change_count(session)
    await engine.dispose()
    assert [c.operator for c in newest] == ["op2", "op1"] and [c.operator for c in older] == ["op0"]
    assert count == 3
    assert newest[0].changed_at == AT + timedelta(minutes=2)
    assert newest[0].after["campaigns/c2"]["delivery"]["auth"]["token"] == "***"
    assert newest[0].before == {"campaigns/c2": None} and newest[0].lines == [
        "~ change campaigns/c2"
    ]


def _changes(cli: Cli) -> list[history.Change]:
    async def read() -> list[history.Change]:
        engine = create_engine(cli.database_url)
        try:
            async with sessions(engine)() as session:
                return await history.changes(session)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_pingtree_apply_is_recorded_by_the_systems_user(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "dana")
    monkeypatch.setenv("LOGNAME", "dana")
    assert cli("apply", str(DEMO)).exit_code == 0
    data = demo_data()
    apex = next(c for c in data["campaigns"] if c["name"] == "apex-auction")
    apex["active"] = False
    assert cli("apply", cli.write(data)).exit_code == 0
    assert cli("apply", cli.write(data)).exit_code == 0  # no changes: nothing recorded

    paused, created = _changes(cli)
    assert (created.operator, created.source, created.version) == ("cli:dana", "cli", 1)
    assert created.lines[0] == "+ create verticals/auto-insurance"
    assert len(created.after) == 22 and set(created.before.values()) == {None}
    assert (paused.operator, paused.source, paused.version) == ("cli:dana", "cli", 2)
    assert paused.lines == [
        "~ change campaigns/apex-auction",
        "    campaigns/apex-auction.active: true -> false",
    ]
    assert paused.before["campaigns/apex-auction"]["active"] is True
    assert paused.after["campaigns/apex-auction"]["active"] is False


def test_rotating_the_secret_key_is_recorded_without_a_secret(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "dana")
    monkeypatch.setenv("LOGNAME", "dana")
    assert cli("apply", str(DEMO)).exit_code == 0
    monkeypatch.setenv("PINGTREE_SECRET_KEY", f"{NEW_KEY},{SECRET_KEY}")
    assert cli("secrets", "rotate-key").exit_code == 0
    rotated = _changes(cli)[0]
    assert (rotated.operator, rotated.source) == ("cli:dana", "cli")
    assert "~ change campaigns/apex-auction" in rotated.lines
    assert all("(secret changed)" in line for line in rotated.lines if line.startswith(" "))
    # Kept only as stored: sealed with the old key before, the new one after, never in clear.
    label = "campaigns/apex-auction"
    sealed = rotated.before[label]["delivery"]["secrets"]["auth_token"]
    resealed = rotated.after[label]["delivery"]["secrets"]["auth_token"]
    assert sealed.startswith("enc:") and resealed.startswith("enc:") and sealed != resealed
    assert not any(clear in repr(rotated) for clear in DEMO_CREDENTIALS)
