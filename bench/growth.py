"""Cost of growth: eligibility and routing at 10 to 10,000 campaigns, and screening with
10,000 to 10,000,000 suppression entries, so that the curve shows.

Campaigns (no database, no network): the configuration of bench/eligibility.py (two to
five filters each, half scheduled, 60% capped and one capped campaign in ten full) with
--campaigns campaigns in one price tier. Per size:
  catalog    Catalog.build() of the whole document (what a process does on a config change)
  eligible   routing.eligibility.eligible() over the tier, per lead
  route      Router.route() per lead: eligibility, the price order, and posts until one
             accepts (the first two offered reject, the third accepts), through in-memory
             ports (a gateway that answers at once, caps counted in memory)

Suppression (a real database): the table grows step by step to each of --suppressions
(SHA-256 hashes like the admin API stores; PostgreSQL fills it with generate_series in
SQL, SQLite with executemany in batches), and at each size --leads leads are stored and
screened as intake does (standard policy, dedup claim, list lookups; some leads listed)
next to the same leads stored unscreened, as bench/screening.py measures it.

Run: .venv/bin/python bench/growth.py [--campaigns 10,100,1000,10000]
        [--suppressions 10000,100000,1000000,10000000] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

import screening as screening_bench
from eligibility import LOOPBACK, build_config, eligible_for, full_ledger, random_lead
from machine import default_postgres_url
from machine import describe as describe_machine
from pingtree.buyers.model import Campaign, Outcome
from pingtree.clock import SystemClock
from pingtree.config.catalog import Catalog
from pingtree.config.files import parse_document
from pingtree.routing.engine import Router
from pingtree.routing.model import LeadOffer, Reading
from pingtree.routing.ports import Answer, Bid
from pingtree.sales.ledger import SqlCapLedger
from pingtree.screening.checks import warm_up
from pingtree.screening.model import ScreeningPolicy
from pingtree.storage.migrate import upgrade

# --- campaigns ------------------------------------------------------------------------------


class InstantGateway:
    """Answers at once: each lead's first two posts are rejected, the third accepted."""

    def __init__(self) -> None:
        self.posts: dict[str, int] = {}

    async def ping(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        fields: dict[str, Any],
        test: bool,
        timeout: float,
    ) -> Answer:
        return Answer(Reading(Outcome.ACCEPTED, price=Decimal("10.00")), duration_ms=0.0)

    async def post(
        self,
        campaign: Campaign,
        *,
        lead_id: str,
        fields: dict[str, Any],
        bid: Bid | None,
        test: bool,
        timeout: float,
    ) -> Answer:
        n = self.posts[lead_id] = self.posts.get(lead_id, 0) + 1
        outcome = Outcome.ACCEPTED if n >= 3 else Outcome.REJECTED
        return Answer(Reading(outcome), duration_ms=0.0)


class MemoryLedger:
    """Cap room from the real ledger's in-process view; holds counted in memory."""

    def __init__(self, view: SqlCapLedger) -> None:
        self.view = view
        self.held = 0

    def room(self, campaign: Campaign, at: datetime) -> str | None:
        return self.view.room(campaign, at)

    async def recheck(self, campaigns: Sequence[Campaign], at: datetime) -> bool:
        return False  # one statement in the engine: see the note printed with the figures

    async def reserve(
        self, campaign: Campaign, *, lead_id: str, price: Decimal, at: datetime, hold_s: float
    ) -> str | None:
        self.held += 1
        return f"hold-{self.held}"

    async def raise_hold(
        self, campaign: Campaign, reservation_id: str, *, price: Decimal, to: Decimal
    ) -> bool:
        return True

    async def settle(self, conn: Any, *, sold: Iterable[str], released: Iterable[str]) -> None:
        return None

    async def release(self, reservation_id: str) -> None:
        return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


async def campaigns_at(n: int, leads: int, seed: int) -> tuple[str, ...]:
    """One row of the campaigns table: catalog build, eligible() and route() per lead."""
    rng = random.Random(seed)
    document = parse_document(build_config(n, rng), allow=LOOPBACK)
    t0 = time.perf_counter()
    catalog = Catalog.build(document)
    build_ms = (time.perf_counter() - t0) * 1000
    tree = catalog.trees["big"]
    now = datetime.now(UTC)
    capped = [c.campaign for c in catalog.campaigns.values() if c.campaign.caps.limits()]
    view = full_ledger(capped[::10], now)  # one capped campaign in ten is full
    ledger = MemoryLedger(view)
    router = Router(gateway=InstantGateway(), ledger=ledger, clock=SystemClock())
    lead_fields = [random_lead(rng) for _ in range(leads)]
    warm = max(20, leads // 10)
    eligible_us: list[float] = []
    offered: list[int] = []
    for i, fields in enumerate(lead_fields):
        t = time.perf_counter_ns()
        count = eligible_for(catalog, tree, view, fields, datetime.now(UTC))
        if i >= warm:
            eligible_us.append((time.perf_counter_ns() - t) / 1000)
            offered.append(count)
    route_us: list[float] = []
    sold = 0
    for i, fields in enumerate(lead_fields):
        offer = LeadOffer(lead_id=str(uuid.uuid4()), vertical="auto", publisher="p", fields=fields)
        t = time.perf_counter_ns()
        result = await router.route(offer, tree, catalog)
        if i >= warm:
            route_us.append((time.perf_counter_ns() - t) / 1000)
            sold += bool(result.sales)
    measured = len(route_us)
    return (
        f"{n:,}",
        f"{build_ms:,.0f} ms",
        f"{sum(offered) / len(offered):.1f}",
        f"{pct(eligible_us, 50):,.0f} / {pct(eligible_us, 99):,.0f}",
        f"{pct(route_us, 50):,.0f} / {pct(route_us, 99):,.0f}",
        f"{sold}/{measured}",
    )


# --- suppression ------------------------------------------------------------------------------

SALT = "growth"


def pg_fill(url: str, start: int, end: int, batch: int = 1_000_000) -> None:
    """Filler entries start..end-1 by generate_series: SHA-256 hex like the admin API's."""
    dsn = screening_bench.plain_dsn(url)
    with psycopg.connect(dsn, options=f"-csearch_path={screening_bench.SCHEMA}") as conn:
        for low in range(start, end, batch):
            high = min(end, low + batch) - 1
            conn.execute(
                "INSERT INTO suppression_entries (value_hash, scope, owner, kind, added_at) "
                "SELECT encode(sha256(convert_to(%s || g::text, 'UTF8')), 'hex'), "
                "CASE g %% 20 WHEN 0 THEN 'publisher' WHEN 1 THEN 'buyer' ELSE 'global' END, "
                "CASE g %% 20 WHEN 0 THEN %s WHEN 1 THEN 'bluecrest' ELSE '' END, "
                "CASE WHEN g %% 10 < 7 THEN 'email' ELSE 'phone' END, now() "
                "FROM generate_series(%s::bigint, %s::bigint) AS g ON CONFLICT DO NOTHING",
                (f"{SALT}:", screening_bench.PUBLISHER, low, high),
            )
            conn.commit()
        conn.execute("ANALYZE suppression_entries")
        conn.commit()


def sqlite_fill(path: Path, start: int, end: int, batch: int = 200_000) -> None:
    """Filler entries start..end-1 by executemany, in batches of one transaction each."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1000000")  # 1 GB of page cache while loading
        for low in range(start, end, batch):
            rows = []
            for g in range(low, min(end, low + batch)):
                scope, owner = "global", ""
                if g % 20 == 0:
                    scope, owner = "publisher", screening_bench.PUBLISHER
                elif g % 20 == 1:
                    scope, owner = "buyer", "bluecrest"
                digest = hashlib.sha256(f"{SALT}:{g}".encode()).hexdigest()
                rows.append((digest, scope, owner, "email" if g % 10 < 7 else "phone", now))
            with conn:
                conn.executemany(
                    "INSERT OR IGNORE INTO suppression_entries "
                    "(value_hash, scope, owner, kind, added_at) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
        conn.execute("ANALYZE")
    finally:
        conn.close()


def add_listed(db: str, url: str, path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    """The step's leads' own entries (global, publisher and buyer lists)."""
    now = datetime.now(UTC)
    sql = (
        "INSERT INTO suppression_entries (value_hash, scope, owner, kind, added_at) "
        "VALUES ({0}, {0}, {0}, {0}, {0}) ON CONFLICT DO NOTHING"
    )
    if db == "sqlite":
        with sqlite3.connect(path) as conn:
            stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
            conn.executemany(sql.format("?"), [(*r, stamp) for r in rows])
        return
    dsn = screening_bench.plain_dsn(url)
    with psycopg.connect(dsn, options=f"-csearch_path={screening_bench.SCHEMA}") as conn:
        conn.cursor().executemany(sql.format("%s"), [(*r, now) for r in rows])


def table_size(db: str, url: str, path: Path) -> str:
    if db == "sqlite":
        return f"{path.stat().st_size / 2**20:,.0f} MiB file"
    dsn = screening_bench.plain_dsn(url)
    with psycopg.connect(dsn, options=f"-csearch_path={screening_bench.SCHEMA}") as conn:
        row = conn.execute("SELECT pg_total_relation_size('suppression_entries')").fetchone()
    return f"{(row[0] if row else 0) / 2**20:,.0f} MiB table+index"


def truncate_postgres(url: str) -> None:
    dsn = screening_bench.plain_dsn(url)
    with psycopg.connect(dsn, options=f"-csearch_path={screening_bench.SCHEMA}") as conn:
        conn.execute("TRUNCATE suppression_entries, dedup_entries, buyer_purchases")
        conn.commit()


async def suppression_curve(
    db: str, sizes: list[int], leads: int, seed: int, postgres_url: str
) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    policy = ScreeningPolicy.standard()
    with tempfile.TemporaryDirectory(prefix="pingtree-growth-") as tmp:
        path = Path(tmp) / "growth.db"
        if db == "sqlite":
            url = f"sqlite+aiosqlite:///{path}"
        else:
            url = screening_bench.prepare_postgres(postgres_url)
        await upgrade(url)
        if db == "postgres":
            truncate_postgres(url)
        loaded = 0
        for step, size in enumerate(sizes):
            workload = screening_bench.make_leads(
                leads + screening_bench.WARMUP, random.Random(seed + step)
            )
            t0 = time.perf_counter()
            if db == "sqlite":
                sqlite_fill(path, loaded, size)
            else:
                pg_fill(url, loaded, size)
            add_listed(db, url, path, workload.entries_for_leads)
            fill_s = time.perf_counter() - t0
            print(f"  {db}: {size:,} entries ({fill_s:.0f} s to add {size - loaded:,})", flush=True)
            loaded = size
            run = await screening_bench.measure(url, workload.leads, policy)
            screened, base = run.screened, run.baseline
            rows.append(
                (
                    db,
                    f"{size:,}",
                    f"{fill_s:,.1f} s",
                    table_size(db, url, path),
                    f"{pct(screened, 50):.2f} / {pct(screened, 99):.2f}",
                    f"{pct(base, 50):.2f} / {pct(base, 99):.2f}",
                    f"{pct(screened, 99) - pct(base, 99):+.2f}",
                )
            )
        if db == "postgres":
            truncate_postgres(url)
    return rows


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def sizes(text: str) -> list[int]:
    return sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--campaigns", type=sizes, default=sizes("10,100,1000,10000"))
    p.add_argument("--route-leads", type=int, default=1000, help="leads per campaign size")
    p.add_argument("--suppressions", type=sizes, default=sizes("10000,100000,1000000,10000000"))
    p.add_argument("--leads", type=int, default=500, help="screened leads per suppression size")
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--postgres-url",
        default=default_postgres_url(),
    )
    return p.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    warm_up()
    campaign_rows = []
    for n in args.campaigns:
        print(f"  campaigns: {n:,}", flush=True)
        campaign_rows.append(await campaigns_at(n, args.route_leads, args.seed))
    suppression_rows: list[tuple[str, ...]] = []
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        suppression_rows += await suppression_curve(
            db, args.suppressions, args.leads, args.seed, args.postgres_url
        )
    print()
    print(f"pingtree cost of growth, {time.strftime('%Y-%m-%d %H:%M %Z')}, {describe_machine()}")
    print(
        table(
            (
                "campaigns",
                "catalog build",
                "eligible/lead",
                "eligible() µs p50/p99",
                "route() µs p50/p99",
                "sold",
            ),
            campaign_rows,
        )
    )
    print(
        f"({args.route_leads} leads per size; route() through in-memory ports with a cascade "
        "of three posts. In the engine, a lead whose filters match a campaign the process "
        "saw full also reads those counters once from the database before leaving it out.)"
    )
    print()
    print(
        table(
            (
                "db",
                "suppressions",
                "time to add",
                "size",
                "store+screen ms p50/p99",
                "store only ms p50/p99",
                "p99 added ms",
            ),
            suppression_rows,
        )
    )
    print(
        f"({args.leads} leads per size after {screening_bench.WARMUP} warm-up; standard policy, "
        "dedup claim and list lookups; each lead also stored unscreened for the baseline)"
    )
    print(f"(whole run {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
