"""0009_console: leads stored before it are found by email and phone after it."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from pingtree.identity import suppression_hash
from pingtree.storage.db import create_engine
from pingtree.storage.migrate import alembic_config, upgrade
from pingtree.storage.tables import LeadPerson


async def test_stored_leads_are_indexed_by_person(database_url: str) -> None:
    engine = create_engine(database_url)

    def down(connection: Connection) -> None:
        cfg = alembic_config(database_url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0008_ledger")

    async with engine.begin() as conn:
        await conn.run_sync(down)
        insert = text(
            "INSERT INTO leads (id, publisher, vertical, status, test, fields, received_at,"
            " revenue, payout, timed_out, reasons, skips) VALUES (:id, 'p', 'v', 'sold', false,"
            " :fields, :at, 0, 0, false, '[]', '[]')"
        )
        at = datetime(2026, 1, 2, tzinfo=UTC)
        await conn.execute(
            insert,
            [
                {
                    "id": "a",
                    "fields": '{"email": "Ada@Example.com", "phone": "(212) 736-5000"}',
                    "at": at,
                },
                {"id": "b", "fields": '{"email": "not an email"}', "at": at},
            ],
        )
    await engine.dispose()
    await upgrade(database_url)
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(LeadPerson.person_hash, LeadPerson.lead_id))).all()
    await engine.dispose()
    assert sorted(rows) == sorted(
        [
            (suppression_hash("email", "ada@example.com"), "a"),
            (suppression_hash("phone", "2127365000"), "a"),
        ]
    )
