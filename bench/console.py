"""Console benchmark: how long each console page takes with 1,000,000 leads stored.

Loads N leads (default 1,000,000) spread over the last 90 days into PostgreSQL with COPY:
60% sold (a post and a sale each), the rest unsold, rejected or in review, each indexed by
its person (email and phone hashes), and their publisher and campaign rollups (built in
SQL). Then asks every page through the app (ASGI, no network), warm, several times, and
prints the median and the slowest. Target (issue 15): no page slower than 300 ms.

PostgreSQL: schema `bench_console` (dropped and created) of PINGTREE_BENCH_POSTGRES_URL,
else PINGTREE_TEST_POSTGRES_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/test.

Run: PYTHONPATH=src .venv/bin/python bench/console.py [--leads 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from machine import default_postgres_url
from pingtree.app import create_app
from pingtree.config.document import ConfigDocument
from pingtree.config.store import apply_document
from pingtree.runtime import Runtime
from pingtree.settings import Settings
from pingtree.storage.migrate import upgrade

SCHEMA = "bench_console"
TOKEN = "bench-admin-token"
NOW = datetime.now(UTC).replace(microsecond=0)
BUYERS = ["apex", "bluecrest", "cascade", "delta"]
RULES = {"rules": [{"source": "status", "equals": "200", "outcome": "accepted"}]}


def person(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def document() -> ConfigDocument:
    return ConfigDocument.model_validate(
        {
            "verticals": [
                {
                    "name": "auto",
                    "fields": [
                        {"name": "email", "type": "email", "pii": True},
                        {"name": "phone", "type": "phone", "pii": True},
                        {"name": "state", "type": "state"},
                    ],
                }
            ],
            "publishers": [{"name": f"pub-{i}"} for i in range(3)],
            "buyers": [{"name": b} for b in BUYERS],
            "campaigns": [
                {
                    "name": f"{b}-c",
                    "buyer": b,
                    "vertical": "auto",
                    "caps": {"daily": 100_000},
                    "price": {"type": "fixed", "amount": "10.00"},
                    "delivery": {"post": {"url": f"https://{b}.example/post", "response": RULES}},
                }
                for b in BUYERS
            ],
            "trees": [
                {
                    "name": "main",
                    "vertical": "auto",
                    "tiers": [
                        {
                            "name": "t",
                            "flow": "price",
                            "campaigns": [{"campaign": f"{b}-c"} for b in BUYERS],
                        }
                    ],
                }
            ],
            "routes": [
                {"publisher": f"pub-{i}", "vertical": "auto", "tree": "main"} for i in range(3)
            ],
        }
    )


def load(conninfo: str, leads: int) -> str:
    """Fill the schema; the id of one sold lead (for its page)."""
    rng = random.Random(15)
    sold_id = ""
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"SET search_path TO {SCHEMA}")
        with cur.copy(
            "COPY leads (id, publisher, vertical, status, test, fields, tree, received_at,"
            " answered_at, revenue, payout, timed_out, reasons, skips, risk_score) FROM STDIN"
        ) as leads_copy:
            sales: list[tuple[Any, ...]] = []
            people: list[tuple[str, str]] = []
            # In time order, as leads arrive (PostgreSQL keeps a period's rows together).
            moments = sorted(rng.randrange(90 * 86400) for _ in range(leads))
            for i, back in enumerate(reversed(moments)):
                lead_id = str(uuid.UUID(int=rng.getrandbits(128)))
                at = NOW - timedelta(seconds=back)
                roll = rng.random()
                status = (
                    "sold"
                    if roll < 0.6
                    else "unsold"
                    if roll < 0.85
                    else "rejected"
                    if roll < 0.98
                    else "review"
                )
                revenue = rng.randrange(500, 4000) if status == "sold" else 0
                email = f"person{i}@example.com"
                phone = f"+1212736{i % 10_000:04d}"  # valid numbers, shared by many leads
                fields = json.dumps({"email": email, "phone": phone, "state": "NY"})
                leads_copy.write_row(
                    (lead_id, f"pub-{i % 3}", "auto", status, False, fields, "main", at, at,
                     revenue, revenue * 7 // 10, False, "[]", "[]", 90)
                )  # fmt: skip
                people += [(person(email), lead_id), (person(phone), lead_id)]
                if status == "sold":
                    sales.append((lead_id, f"pub-{i % 3}", rng.choice(BUYERS), at, revenue))
                    sold_id = sold_id or lead_id
        with cur.copy(
            "COPY sales (lead_id, publisher, campaign, buyer, tier, price, payout, sold_at, test)"
            " FROM STDIN"
        ) as copy:
            for lead_id, pub, buyer, at, revenue in sales:
                copy.write_row(
                    (lead_id, pub, f"{buyer}-c", buyer, "t", revenue, revenue * 7 // 10, at, False)
                )
        with cur.copy(
            "COPY attempts (lead_id, campaign, buyer, tier, kind, outcome, price, started_at,"
            " duration_ms, request, response, test, price_mismatch) FROM STDIN"
        ) as copy:
            for lead_id, _pub, buyer, at, revenue in sales:
                copy.write_row(
                    (lead_id, f"{buyer}-c", buyer, "t", "post", "accepted", revenue, at,
                     rng.uniform(20, 400), "{}", "{}", False, False)
                )  # fmt: skip
        with cur.copy("COPY lead_people (person_hash, lead_id) FROM STDIN") as copy:
            for row in people:
                copy.write_row(row)
        cur.execute(ROLLUPS)
        cur.execute("ANALYZE")
    print(f"loaded {leads:,} leads, {len(sales):,} sales in {time.monotonic() - started:.0f} s")
    return sold_id


ROLLUPS = """
INSERT INTO publisher_rollups (grain, bucket, publisher, vertical, sent, refused, screened_out,
    review, sold, unsold, uncertain, returned, revenue, payout, returned_revenue, clawed_back,
    answered, answer_ms)
SELECT 15, floor(extract(epoch FROM received_at) / 900)::int, publisher, vertical, count(*), 0,
       count(*) FILTER (WHERE status = 'rejected'), count(*) FILTER (WHERE status = 'review'),
       count(*) FILTER (WHERE status = 'sold'), count(*) FILTER (WHERE status = 'unsold'),
       count(*) FILTER (WHERE status = 'uncertain'), 0, sum(revenue), sum(payout), 0, 0, 0, 0
FROM leads WHERE NOT test GROUP BY 2, 3, 4;
INSERT INTO publisher_rollups (grain, bucket, publisher, vertical, sent, refused, screened_out,
    review, sold, unsold, uncertain, returned, revenue, payout, returned_revenue, clawed_back,
    answered, answer_ms)
SELECT 60, bucket / 4, publisher, vertical, sum(sent), 0, sum(screened_out), sum(review),
       sum(sold), sum(unsold), sum(uncertain), 0, sum(revenue), sum(payout), 0, 0, 0, 0
FROM publisher_rollups WHERE grain = 15 GROUP BY 2, 3, 4;
INSERT INTO campaign_rollups (grain, publisher, bucket, campaign, buyer, vertical, offered,
    pinged, posted, sold, rejected, duplicates, errors, timeouts, revenue, payout,
    leads_posted, buyer_leads_posted, exchange_ms)
SELECT 15, l.publisher, floor(extract(epoch FROM l.received_at) / 900)::int, a.campaign,
       a.buyer, l.vertical, count(DISTINCT a.lead_id),
       count(*) FILTER (WHERE a.kind = 'ping'), count(*) FILTER (WHERE a.kind = 'post'),
       count(s.id), count(*) FILTER (WHERE a.kind = 'post' AND a.outcome = 'rejected'),
       count(*) FILTER (WHERE a.kind = 'post' AND a.outcome = 'duplicate'),
       count(*) FILTER (WHERE a.outcome = 'error'), count(*) FILTER (WHERE a.outcome = 'timeout'),
       coalesce(sum(s.price), 0), coalesce(sum(s.payout), 0),
       count(DISTINCT a.lead_id) FILTER (WHERE a.kind = 'post'),
       count(DISTINCT a.lead_id) FILTER (WHERE a.kind = 'post'), sum(a.duration_ms)
FROM attempts a JOIN leads l ON l.id = a.lead_id
LEFT JOIN sales s ON s.lead_id = a.lead_id AND s.campaign = a.campaign AND a.kind = 'post'
WHERE NOT a.test GROUP BY 2, 3, 4, 5, 6;
INSERT INTO campaign_rollups (grain, publisher, bucket, campaign, buyer, vertical, offered,
    pinged, posted, sold, rejected, duplicates, errors, timeouts, revenue, payout,
    leads_posted, buyer_leads_posted, exchange_ms)
SELECT 15, '*', bucket, campaign, buyer, vertical, sum(offered), sum(pinged), sum(posted),
       sum(sold), sum(rejected), sum(duplicates), sum(errors), sum(timeouts), sum(revenue),
       sum(payout), sum(leads_posted), sum(buyer_leads_posted), sum(exchange_ms)
FROM campaign_rollups WHERE grain = 15 GROUP BY 3, 4, 5, 6;
INSERT INTO campaign_rollups (grain, publisher, bucket, campaign, buyer, vertical, offered,
    pinged, posted, sold, rejected, duplicates, errors, timeouts, revenue, payout,
    leads_posted, buyer_leads_posted, exchange_ms)
SELECT 60, publisher, bucket / 4, campaign, buyer, vertical, sum(offered), sum(pinged),
       sum(posted), sum(sold), sum(rejected), sum(duplicates), sum(errors), sum(timeouts),
       sum(revenue), sum(payout), sum(leads_posted), sum(buyer_leads_posted), sum(exchange_ms)
FROM campaign_rollups WHERE grain = 15 GROUP BY 2, 3, 4, 5, 6
"""
"""The publisher and campaign rollups of the loaded leads, as the roller would have added
them up (the console's timeline, funnels and buyer and campaign tables read them; each
sold lead has one post, so its campaign is posted one distinct lead)."""

PAGES = [
    ("dashboard", "/console"),
    ("leads: newest", "/console/leads"),
    ("leads: by email", "/console/leads?q=person4242%40example.com"),
    ("leads: by phone", "/console/leads?q=%2B12127364242"),
    ("leads: sold yesterday", "/console/leads?period=yesterday&status=sold"),
    ("leads: sold to a buyer, 7 days", "/console/leads?period=7d&buyer=apex"),
    ("lead page", "LEAD"),
    ("reports: today", "/console/reports?period=today"),
    ("reports: 7 days", "/console/reports?period=7d"),
    ("reports: 30 days", "/console/reports?period=30d"),
    ("reports: 90 days", "/console/reports?period=90d"),
    ("reports CSV: 30 days", "/console/reports/timeline.csv?period=30d"),
    ("buyers: 7 days", "/console/buyers?period=7d"),
    ("review", "/console/review"),
    ("configuration", "/console/config"),
    ("campaign editor", "/console/config/campaigns/apex-c"),
    ("history", "/console/history"),
]


async def measure(url: str, lead_id: str, runs: int) -> list[tuple[str, float, float]]:
    settings = Settings(database_url=url, admin_token=TOKEN)
    rt = Runtime(settings)
    await rt.start(watch=False)
    async with rt.sessions() as session, session.begin():
        await apply_document(session, document(), now=NOW, prune=True)
    await rt.reload_config()
    app = create_app(settings, runtime=rt)
    out = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        for name, path in PAGES:
            path = f"/console/leads/{lead_id}" if path == "LEAD" else path
            first = await c.get(path, headers=headers)
            assert first.status_code == 200, (path, first.status_code, first.text[:300])
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                r = await c.get(path, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200
            out.append((name, statistics.median(times), max(times)))
    await rt.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep the leads of the last run")
    args = parser.parse_args()
    base = default_postgres_url()
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{SCHEMA}"
    if args.reuse:
        with psycopg.connect(plain, autocommit=True) as conn:
            found = conn.execute(f"SELECT lead_id FROM {SCHEMA}.sales LIMIT 1").fetchone()
        assert found is not None, "no leads to reuse: run without --reuse first"
        lead_id = str(found[0])
    else:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            conn.execute(f"CREATE SCHEMA {SCHEMA}")
        asyncio.run(upgrade(url))
        lead_id = load(plain, args.leads)
    results = asyncio.run(measure(url, lead_id, args.runs))
    print(f"\n{'page':34} {'median ms':>10} {'slowest ms':>11}")
    for name, median, slowest in results:
        flag = "" if slowest <= 300 else "  over 300 ms"
        print(f"{name:34} {median:10.1f} {slowest:11.1f}{flag}")
    worst = max(slowest for _, _, slowest in results)
    print(
        f"\nslowest page: {worst:.0f} ms (target: 300 ms) on {sys.platform}, {os.cpu_count()} cpus"
    )


if __name__ == "__main__":
    main()
