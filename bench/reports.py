"""Reports benchmark: a campaign report over 10M attempts, from rollups vs from raw rows.

On PostgreSQL (schema bench_reports, dropped and recreated):

1. History: N attempts (default 10,000,000; a third pings, two thirds posts) for N/3 leads
   of 5 publishers over D days (default 90) to 50 campaigns of 10 buyers, and a sale for
   each accepted post, written by generate_series in the database.
2. Rollups: the 15-minute campaign rollups of that history, built in one SQL pass from
   the raw rows (what the roller writes as the leads come; it is measured on its own in 4).
3. Reports, each timed (best of 3) next to the same figures computed from the raw rows:
   per campaign per day over the D days (UTC and America/New_York), per campaign in total,
   per campaign per hour over the last 7 days. Target: under 1 s.
4. The roller: lead events as the engine writes them (3 campaigns each) rolled into the
   rollups, in events per second (how much load reports add per lead).

Run: .venv/bin/python bench/reports.py [--attempts 10000000] [--days 90] [--events 20000]
     [--postgres-url URL] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from machine import default_postgres_url
from machine import describe as describe_machine
from pingtree.reporting import events
from pingtree.reporting.periods import By
from pingtree.reporting.reports import Filters, campaign_report
from pingtree.reporting.rollups import roll
from pingtree.storage.db import create_engine
from pingtree.storage.migrate import upgrade

PG_SCHEMA = "bench_reports"
TARGET_S = 1.0
CAMPAIGNS, BUYERS, PUBLISHERS = 50, 10, 5
END = datetime(2026, 11, 25, tzinfo=UTC)
T = TypeVar("T")


def plain_pg(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.split("+")[0], parts.netloc, parts.path, "", ""))


def prepare(base_url: str) -> str:
    """A fresh schema of our own; the engine URL that uses it."""
    import psycopg

    with psycopg.connect(plain_pg(base_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {PG_SCHEMA}")
    parts = urlsplit(base_url)
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path, f"options=-csearch_path%3D{PG_SCHEMA}", "")
    )


def drop(base_url: str) -> None:
    import psycopg

    with psycopg.connect(plain_pg(base_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")


HISTORY = """
INSERT INTO attempts (lead_id, campaign, buyer, tier, kind, outcome, price, reason,
                      started_at, duration_ms, request, response, test, price_mismatch)
SELECT 'lead-' || lpad((g / 3)::text, 9, '0'),
       'c' || c, 'b' || (c / 5), 't',
       CASE WHEN g % 3 = 0 THEN 'ping' ELSE 'post' END,
       CASE WHEN r < 0.55 THEN 'accepted' WHEN r < 0.85 THEN 'rejected'
            WHEN r < 0.95 THEN 'error' ELSE 'timeout' END,
       CASE WHEN r < 0.55 THEN (500 + c * 37) ELSE NULL END,
       CASE WHEN r >= 0.55 AND r < 0.85 THEN 'reason ' || (c % 4) ELSE NULL END,
       :start + (g / 3) * (:span / (:leads)) * interval '1 second',
       20, '{}'::jsonb, '{}'::jsonb, false, r < 0.01
FROM (SELECT g, (hashtext(g::text) & 2147483647) % :campaigns AS c, random() AS r
      FROM generate_series(0, :n - 1) AS g) AS s
"""
SALES = """
INSERT INTO sales (lead_id, publisher, campaign, buyer, tier, price, payout, sold_at, test)
SELECT lead_id, 'p' || (substr(lead_id, 6)::bigint % :publishers), campaign, buyer, tier,
       price, price / 2, started_at, false
FROM attempts WHERE kind = 'post' AND outcome = 'accepted'
"""
ROLLUP_ATTEMPTS = """
INSERT INTO campaign_rollups (grain, bucket, campaign, publisher, buyer, vertical, offered,
    pinged, bids, bid_total, posted, sold, rejected, duplicates, errors, timeouts, redirects,
    price_mismatches, revenue, payout, returns, returned, clawed_back)
SELECT 15, floor(extract(epoch FROM started_at) / 900)::int, campaign,
       'p' || (substr(lead_id, 6)::bigint % :publishers), max(buyer), 'auto',
       count(*),  -- each attempt meets its campaign with another lead (campaigns are drawn)
       count(*) FILTER (WHERE kind = 'ping'),
       count(*) FILTER (WHERE kind = 'ping' AND outcome = 'accepted'),
       coalesce(sum(price) FILTER (WHERE kind = 'ping' AND outcome = 'accepted'), 0),
       count(*) FILTER (WHERE kind = 'post'), 0,
       count(*) FILTER (WHERE kind = 'post' AND outcome = 'rejected'), 0,
       count(*) FILTER (WHERE outcome = 'error'), count(*) FILTER (WHERE outcome = 'timeout'),
       0, count(*) FILTER (WHERE price_mismatch), 0, 0, 0, 0, 0
FROM attempts GROUP BY 2, 3, 4
"""
ROLLUP_SALES = """
INSERT INTO campaign_rollups AS r (grain, bucket, campaign, publisher, buyer, vertical, sold,
    revenue, payout)
SELECT 15, floor(extract(epoch FROM sold_at) / 900)::int, campaign, publisher, max(buyer),
       'auto', count(*), sum(price), sum(payout)
FROM sales GROUP BY 2, 3, 4
ON CONFLICT (grain, publisher, bucket, campaign) DO UPDATE
SET sold = r.sold + excluded.sold, revenue = r.revenue + excluded.revenue,
    payout = r.payout + excluded.payout
"""
REASONS = """
INSERT INTO campaign_reasons (grain, bucket, campaign, publisher, reason, buyer, vertical,
    count)
SELECT 15, floor(extract(epoch FROM started_at) / 900)::int, campaign,
       'p' || (substr(lead_id, 6)::bigint % :publishers), reason, max(buyer), 'auto', count(*)
FROM attempts WHERE kind = 'post' AND outcome = 'rejected' GROUP BY 2, 3, 4, 5
"""
FIGURES = (
    "offered, pinged, bids, bid_total, posted, sold, rejected, duplicates, errors, timeouts, "
    "redirects, price_mismatches, revenue, payout, returns, returned, clawed_back"
)
SUMS = ", ".join(f"sum({name})" for name in FIGURES.split(", "))
# What the roller writes besides each publisher's 15-minute rows: every publisher's (`*`),
# and both again by the hour.
ALL_PUBLISHERS = f"""
INSERT INTO campaign_rollups (grain, publisher, bucket, campaign, buyer, vertical, {FIGURES})
SELECT 15, '*', bucket, campaign, max(buyer), max(vertical), {SUMS}
FROM campaign_rollups WHERE grain = 15 GROUP BY bucket, campaign
"""
HOURLY = f"""
INSERT INTO campaign_rollups (grain, publisher, bucket, campaign, buyer, vertical, {FIGURES})
SELECT 60, publisher, bucket / 4, campaign, max(buyer), max(vertical), {SUMS}
FROM campaign_rollups WHERE grain = 15 GROUP BY publisher, bucket / 4, campaign
"""
REASONS_ALL = """
INSERT INTO campaign_reasons (grain, publisher, bucket, campaign, reason, buyer, vertical, count)
SELECT 15, '*', bucket, campaign, reason, max(buyer), max(vertical), sum(count)
FROM campaign_reasons WHERE grain = 15 GROUP BY bucket, campaign, reason
"""
REASONS_HOURLY = """
INSERT INTO campaign_reasons (grain, publisher, bucket, campaign, reason, buyer, vertical, count)
SELECT 60, publisher, bucket / 4, campaign, reason, max(buyer), max(vertical), sum(count)
FROM campaign_reasons WHERE grain = 15 GROUP BY publisher, bucket / 4, campaign, reason
"""
RAW_ATTEMPTS = """
SELECT date_trunc(:unit, started_at AT TIME ZONE :tz) AS period, campaign, max(buyer),
       count(DISTINCT lead_id), count(*) FILTER (WHERE kind = 'ping'),
       count(*) FILTER (WHERE kind = 'ping' AND outcome = 'accepted'),
       count(*) FILTER (WHERE kind = 'post'),
       count(*) FILTER (WHERE kind = 'post' AND outcome = 'rejected'),
       count(*) FILTER (WHERE outcome = 'error'), count(*) FILTER (WHERE outcome = 'timeout'),
       count(*) FILTER (WHERE price_mismatch)
FROM attempts WHERE started_at >= :lo AND started_at < :hi GROUP BY 1, 2
"""
RAW_SALES = """
SELECT date_trunc(:unit, sold_at AT TIME ZONE :tz) AS period, campaign, count(*), sum(price),
       sum(payout)
FROM sales WHERE sold_at >= :lo AND sold_at < :hi AND NOT test GROUP BY 1, 2
"""
RAW_REASONS = """
SELECT date_trunc(:unit, started_at AT TIME ZONE :tz), campaign, reason, count(*)
FROM attempts WHERE kind = 'post' AND outcome = 'rejected'
  AND started_at >= :lo AND started_at < :hi GROUP BY 1, 2, 3
"""


async def timed(step: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    started = time.perf_counter()
    result = await step()
    return time.perf_counter() - started, result


async def best_of(runs: int, step: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    best: tuple[float, T] | None = None
    for _ in range(runs):
        found = await timed(step)
        if best is None or found[0] < best[0]:
            best = found
    assert best is not None
    return best


async def build_history(engine: AsyncEngine, attempts: int, days: int) -> dict[str, float]:
    span = days * 86400
    start = END - timedelta(days=days)
    params = {"start": start, "span": float(span), "leads": attempts // 3 or 1, "n": attempts}
    took: dict[str, float] = {}
    async with engine.begin() as conn:
        # A scratch schema: no WAL, no indexes but the keys, no lead rows for attempts and
        # sales to point at (reports never read them).
        for statement in (
            "ALTER TABLE attempts SET UNLOGGED",
            "ALTER TABLE sales SET UNLOGGED",
            "DROP INDEX ix_attempts_lead_id",
            "DROP INDEX ix_attempts_campaign_started",
            "DROP INDEX ix_sales_campaign_sold",
            "DROP INDEX ix_sales_buyer",
            "DROP INDEX ix_sales_lead_id",
            "ALTER TABLE campaign_rollups SET UNLOGGED",
            "ALTER TABLE campaign_reasons SET UNLOGGED",
        ):
            await conn.execute(text(statement))
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        took["attempts"], _ = await timed(
            lambda: conn.execute(text(HISTORY), {**params, "campaigns": CAMPAIGNS})
        )
        took["sales"], _ = await timed(
            lambda: conn.execute(text(SALES), {"publishers": PUBLISHERS})
        )
    async with engine.begin() as conn:
        took["analyze"], _ = await timed(lambda: conn.execute(text("ANALYZE attempts, sales")))
    async with engine.begin() as conn:
        started = time.perf_counter()
        await conn.execute(text(ROLLUP_ATTEMPTS), {"publishers": PUBLISHERS})
        await conn.execute(text(ROLLUP_SALES))
        await conn.execute(text(REASONS), {"publishers": PUBLISHERS})
        for statement in (ALL_PUBLISHERS, HOURLY, REASONS_ALL, REASONS_HOURLY):
            await conn.execute(text(statement))
        took["rollups"] = time.perf_counter() - started
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE campaign_rollups, campaign_reasons"))
    return took


async def raw_report(engine: AsyncEngine, unit: str, tz: str, lo: datetime, hi: datetime) -> int:
    params = {"unit": unit, "tz": tz, "lo": lo, "hi": hi}
    async with engine.connect() as conn:
        rows = (await conn.execute(text(RAW_ATTEMPTS), params)).all()
        rows += (await conn.execute(text(RAW_SALES), params)).all()
        rows += (await conn.execute(text(RAW_REASONS), params)).all()
    return len(rows)


async def rollup_report(
    engine: AsyncEngine, start: date, end: date, tz: str, by: By
) -> tuple[int, dict[str, Any]]:
    async with engine.connect() as conn:
        report = await campaign_report(
            conn, start=start, end=end, zone=ZoneInfo(tz), by=by, filters=Filters()
        )
    totals = {"sold": sum(r.figures["sold"] for r in report.rows)}
    totals["revenue"] = sum((r.figures["revenue"] for r in report.rows), Decimal(0))
    totals["posted"] = sum(r.figures["posted"] for r in report.rows)
    return len(report.rows), totals


async def roller_rate(engine: AsyncEngine, count: int) -> tuple[float, int]:
    """Lead events written as the engine writes them, then rolled: events per second."""
    at = END - timedelta(hours=1)
    figures = {
        f"c{i}": {
            "buyer": f"b{i // 5}",
            "offered": 1,
            "pinged": 1,
            "bids": 1,
            "bid_total": "12.00",
            "posted": 1,
            "rejected": 1,
            "reasons": {"reason 1": 1},
        }
        for i in range(3)
    }
    figures["c0"].update({"sold": 1, "revenue": "12.00", "payout": "6.00"})
    async with engine.begin() as conn:
        for i in range(count):
            await events.answered(
                conn,
                lead_id=f"event-{i}",
                publisher=f"p{i % PUBLISHERS}",
                vertical="auto",
                received_at=at + timedelta(seconds=i % 3600),
                at=at,
                status="sold",
                campaigns=figures,
                revenue=Decimal("12.00"),
                payout=Decimal("6.00"),
            )
    started = time.perf_counter()
    rolled = 0
    while rolled < count:
        async with engine.begin() as conn:
            done = await roll(conn, now=END)
        rolled += done or 0
        if not done:
            await asyncio.sleep(0.05)
    return time.perf_counter() - started, rolled


async def main(args: argparse.Namespace) -> int:
    url = prepare(args.postgres_url)
    await upgrade(url)
    engine = create_engine(url)
    failed = False
    try:
        print(f"# reports over {args.attempts:,} attempts, {args.days} days")
        print(f"machine: {describe_machine()}")
        took = await build_history(engine, args.attempts, args.days)
        async with engine.connect() as conn:
            rollup_rows = await conn.scalar(text("SELECT count(*) FROM campaign_rollups"))
        print(
            f"history: attempts {took['attempts']:.1f}s, sales {took['sales']:.1f}s, "
            f"rollups built from raw rows {took['rollups']:.1f}s ({rollup_rows:,} rows)"
        )
        last = (END - timedelta(seconds=1)).date()
        first = last - timedelta(days=args.days - 1)
        week = last - timedelta(days=6)
        cases = [
            ("per campaign per day, UTC", first, last, "UTC", By.DAY, "day"),
            (
                "per campaign per day, America/New_York",
                first,
                last,
                "America/New_York",
                By.DAY,
                "day",
            ),
            ("per campaign, whole range", first, last, "UTC", By.TOTAL, "year"),
            ("per campaign per hour, last 7 days", week, last, "UTC", By.HOUR, "hour"),
        ]
        print()
        print("| report | rows | from rollups | from raw rows | target | |")
        print("| --- | --- | --- | --- | --- | --- |")
        for label, start, end, tz, by, unit in cases:
            zone = ZoneInfo(tz)
            lo = datetime.combine(start, datetime.min.time(), tzinfo=zone)
            hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=zone)
            fast, (rows, totals) = await best_of(
                3, partial(rollup_report, engine, start, end, tz, by)
            )
            slow, _ = await best_of(1, partial(raw_report, engine, unit, tz, lo, hi))
            ok = fast < TARGET_S
            failed |= not ok
            print(
                f"| {label} | {rows:,} | {fast * 1000:.0f} ms | {slow * 1000:.0f} ms "
                f"| < {TARGET_S * 1000:.0f} ms | {'PASS' if ok else 'FAIL'} |"
            )
        print()
        sold, posted = f"{totals['sold']:,}", f"{totals['posted']:,}"
        print(f"last report: {posted} posts, {sold} sold, revenue {totals['revenue']}")
        seconds, rolled = await roller_rate(engine, args.events)
        print(
            f"roller: {rolled:,} lead events (3 campaigns each) in {seconds:.2f}s: "
            f"{rolled / seconds:,.0f} events/s"
        )
    finally:
        await engine.dispose()
        if not args.keep:
            drop(args.postgres_url)
    return 1 if failed and args.strict else 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--postgres-url",
        default=default_postgres_url(),
        help=f"PostgreSQL to use (schema {PG_SCHEMA} is dropped and recreated)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a FAIL")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
