"""Roller benchmark: how long one books pass's roll of lead events holds the event loop.

The roller (reporting.rollups) adds the lead events committed since its last pass into the
report rollups, every PINGTREE_BOOKS_POLL_S (2 s), in one transaction per batch. On SQLite
its statements run on the event loop, and on both databases its Python work does: while
it runs, no lead in flight moves. This counts the CPU time of one roll of K answered events
(10 campaigns each, as bench/engine.py's trees make; 3 publishers) in one transaction, for
K = a pass's events at 10, 100 and 500 leads a second, on a migrated database of its own,
and its wall time beside it. On SQLite run inline the two are the same block; on
PostgreSQL the CPU time comes in slices, one between each round trip and the next, and
leads in flight move in between. A pass rolls at most rollups.BATCH events a transaction,
with loop turns between.

Target: the pass at 10 leads a second (one lead in flight, 20 events) holds the loop under
half the overhead target of bench/engine.py (5 ms), so that a lead it lands on still
answers within that target.

Run: .venv/bin/python bench/roller.py [--db sqlite|postgres|both] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine import drop_postgres, prepare_postgres
from machine import default_postgres_url
from machine import describe as describe_machine
from pingtree.reporting import events, rollups
from pingtree.storage.db import create_engine
from pingtree.storage.migrate import upgrade

CAMPAIGNS = 10
POLL_S = 2.0
RATES = (10, 100, 500)  # leads a second
TARGET_MS = 5.0
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def figures(sold: int) -> dict[str, dict[str, Any]]:
    """An answered lead's campaign figures: every campaign pinged, one of them sold."""
    out: dict[str, dict[str, Any]] = {}
    for j in range(CAMPAIGNS):
        won = j == sold
        out[f"c{j}"] = {
            "buyer": f"b{j}",
            "offered": 1,
            "pinged": 1,
            "bids": 1,
            "posted": int(won),
            "sold": int(won),
            "bid_total": "12.50",
            "revenue": "12.50" if won else "0",
            "payout": "6.00" if won else "0",
            "exchange_ms": 31,
        }
    return out


async def measure(url: str, rounds: int) -> dict[int, list[tuple[float, float]]]:
    """(CPU ms, wall ms) of the process per roll of each rate's pass in one transaction (the
    first rounds left out: warm-up). The CPU time is what holds the event loop; the wall
    time adds the waits for the database (on PostgreSQL the loop is free then; on SQLite
    run inline there are none)."""
    await upgrade(url)
    engine = create_engine(url, checkpoints_apart=True)
    found: dict[int, list[tuple[float, float]]] = {}
    try:
        for rate in RATES:
            k = int(rate * POLL_S)
            times: list[tuple[float, float]] = []
            for i in range(rounds + 3):
                async with engine.begin() as conn:
                    for n in range(k):
                        await events.answered(
                            conn,
                            lead_id=str(uuid.uuid4()),
                            publisher=f"p{n % 3}",
                            vertical="v",
                            received_at=NOW,
                            at=NOW,
                            status="sold",
                            campaigns=figures(n % CAMPAIGNS),
                            revenue=Decimal("12.50"),
                            payout=Decimal("6.00"),
                        )
                started, cpu = time.perf_counter(), time.process_time()
                async with engine.begin() as conn:
                    rolled = await rollups.roll(conn, now=NOW, batch=k)
                if i >= 3:
                    held = (time.process_time() - cpu) * 1000
                    times.append((held, (time.perf_counter() - started) * 1000))
                assert rolled == k, (rolled, k)
            found[rate] = times
    finally:
        await engine.dispose()
    return found


def report(db: str, found: dict[int, list[tuple[float, float]]]) -> list[str]:
    lines = []
    for rate, times in found.items():
        k = int(rate * POLL_S)
        held = statistics.median(t[0] for t in times)
        wall = statistics.median(t[1] for t in times)
        line = (
            f"{db:9s} {rate:4d} leads/s  {k:5d} events  loop held (CPU) {held:7.2f} ms median "
            f"(min {min(t[0] for t in times):.2f}), wall {wall:7.2f} ms  "
            f"{held * 1000 / k:6.1f} us an event"
        )
        if rate == RATES[0]:
            verdict = "PASS" if held < TARGET_MS else "FAIL"
            line += f"  target < {TARGET_MS:.0f} ms  {verdict}"
        lines.append(line)
    return lines


async def main(args: argparse.Namespace) -> int:
    wanted = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    lines: list[str] = []
    for db in wanted:
        if db == "sqlite":
            with tempfile.TemporaryDirectory(prefix="pingtree-roller-") as tmp:
                found = await measure(f"sqlite+aiosqlite:///{tmp}/roller.db", args.rounds)
        else:
            url = prepare_postgres(args.postgres_url)
            try:
                found = await measure(url, args.rounds)
            finally:
                drop_postgres(args.postgres_url)
        lines += report(db, found)
    print(f"\nroller benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}, {describe_machine()}")
    print("\n".join(lines))
    return 1 if args.strict and any("FAIL" in line for line in lines) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--rounds", type=int, default=15, help="rolls timed per rate (default 15)")
    p.add_argument(
        "--postgres-url",
        default=default_postgres_url(),
        help="PostgreSQL to use (schema bench_engine is dropped and recreated)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
