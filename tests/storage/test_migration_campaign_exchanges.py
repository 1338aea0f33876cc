"""0010_campaign_exchanges: the exchanges stored before it are in the campaign rollups after
it (distinct leads posted, per campaign and per buyer, and their durations), added to the
rows the roller had written, in the slot each lead was received in."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from pingtree.storage.books import CampaignRollup
from pingtree.storage.db import create_engine
from pingtree.storage.migrate import alembic_config, upgrade

LEAD = (
    "INSERT INTO leads (id, publisher, vertical, status, test, fields, received_at,"
    " revenue, payout, timed_out, reasons, skips) VALUES (:id, :pub, 'auto', 'sold', :test,"
    " '{}', :at, 0, 0, false, '[]', '[]')"
)
ATTEMPT = (
    "INSERT INTO attempts (lead_id, campaign, buyer, tier, kind, outcome, started_at,"
    " duration_ms, request, response, test, price_mismatch) VALUES (:lead, :campaign, :buyer,"
    " 't', :kind, 'accepted', :at, :ms, '{}', '{}', :test, false)"
)
ROLLED = (
    "INSERT INTO campaign_rollups (grain, publisher, bucket, campaign, buyer, vertical,"
    " offered, posted, sold) VALUES (15, '*', :bucket, 'apex-a', 'apex', 'auto', 2, 3, 1)"
)


async def test_stored_exchanges_are_added_to_the_campaign_rollups(database_url: str) -> None:
    engine = create_engine(database_url)
    at = datetime(2026, 1, 2, 10, 5, tzinfo=UTC)  # slot 10:00-10:15
    later = datetime(2026, 1, 2, 10, 20, tzinfo=UTC)  # the next slot, same hour
    bucket = int(at.timestamp()) // 900

    def down(connection: Connection) -> None:
        cfg = alembic_config(database_url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0009_console")

    async with engine.begin() as conn:
        await conn.run_sync(down)
        await conn.execute(
            text(LEAD),
            [
                {"id": "a", "pub": "p1", "test": False, "at": at},
                {"id": "b", "pub": "p2", "test": False, "at": at},
                {"id": "c", "pub": "p1", "test": False, "at": later},
                {"id": "t", "pub": "p1", "test": True, "at": at},
            ],
        )
        exchanges = [
            # a: posted to both of apex's campaigns (apex: one lead), pinged first.
            ("a", "apex-a", "apex", "ping", 10.0, False),
            ("a", "apex-a", "apex", "post", 20.0, False),
            ("a", "apex-b", "apex", "post", 30.5, False),
            ("b", "apex-a", "apex", "post", 40.0, False),
            ("c", "apex-b", "apex", "ping", 7.25, False),
            ("t", "apex-a", "apex", "post", 999.0, True),
        ]
        keys = ("lead", "campaign", "buyer", "kind", "ms", "test")
        rows = [{**dict(zip(keys, e, strict=True)), "at": at} for e in exchanges]
        await conn.execute(text(ATTEMPT), rows)
        await conn.execute(text(ROLLED), {"bucket": bucket})
    await engine.dispose()
    await upgrade(database_url)
    engine = create_engine(database_url)
    t = CampaignRollup
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    t.grain, t.publisher, t.bucket, t.campaign, t.posted, t.leads_posted,
                    t.buyer_leads_posted, t.exchange_ms,
                ).order_by(t.grain, t.publisher, t.bucket, t.campaign)
            )
        ).all()  # fmt: skip
    await engine.dispose()
    hour = bucket // 4
    assert [tuple(r) for r in rows] == [
        (15, "*", bucket, "apex-a", 3, 2, 2, 70.0),  # the roller's row, added to
        (15, "*", bucket, "apex-b", 0, 1, 0, 30.5),
        (15, "*", bucket + 1, "apex-b", 0, 0, 0, 7.25),
        (15, "p1", bucket, "apex-a", 0, 1, 1, 30.0),
        (15, "p1", bucket, "apex-b", 0, 1, 0, 30.5),
        (15, "p1", bucket + 1, "apex-b", 0, 0, 0, 7.25),
        (15, "p2", bucket, "apex-a", 0, 1, 1, 40.0),
        (60, "*", hour, "apex-a", 0, 2, 2, 70.0),
        (60, "*", hour, "apex-b", 0, 1, 0, 37.75),
        (60, "p1", hour, "apex-a", 0, 1, 1, 30.0),
        (60, "p1", hour, "apex-b", 0, 1, 0, 37.75),
        (60, "p2", hour, "apex-a", 0, 1, 1, 40.0),
    ]
