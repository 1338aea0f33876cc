"""Soak: a bounded run at half the measured capacity, on PostgreSQL and Redis.

1. Capacity: `--capacity-leads` leads at 32 in flight (a closed loop) through the
   deployment; leads/s is the capacity (or give `--rate` to skip this).
2. Soak: leads arrive at half that rate, evenly spaced (an open loop: a slow answer does
   not slow the arrivals), for `--minutes` (10 by default).

The deployment is `pingtree serve` (`--workers N`) with a ping_post tier over five bidders
(20-50 ms, bid on 90% of pings, accept 90% of posts) and then an even tier of four buyers
that take every lead, on a fresh PostgreSQL schema. Targets:

  lost      zero: every soak lead answered 200; every answered lead stored once, with
            the status it was answered with; none left open; one sale per sold lead
  memory    RSS of the app's processes at the end within 10% of the RSS after the warm-up
            (the first minute, or a fifth of a shorter run)
  p99       stable: no minute's p99 above 1.5 x the median of the per-minute p99s

Run: .venv/bin/python bench/soak.py [--minutes 10] [--workers 1] [--rate LEADS_PER_S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from cluster import (
    Answer,
    Deployment,
    Simulator,
    client,
    closed_loop,
    pct,
    person,
    post_lead,
    rss_mib,
    table,
)
from engine import app_settings
from machine import describe as describe_machine

MEMORY_GROWTH_TARGET = 0.10
P99_SPREAD_TARGET = 1.5
SAMPLE_S = 5.0


async def open_loop(
    rate: float, seconds: float, send: aiohttp.ClientSession, base: str, run: str
) -> list[Answer]:
    """Leads at `rate` per second, evenly spaced, for `seconds`; every answer."""
    started = time.monotonic()
    tasks: list[asyncio.Task[Answer]] = []
    i = 0
    while (due := started + i / rate) < started + seconds:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post_lead(send, base, person(run, i))))
        i += 1
    return list(await asyncio.gather(*tasks))


async def sample_memory(pids: list[int], samples: list[tuple[float, float]]) -> None:
    """(monotonic time, RSS MiB) every SAMPLE_S until cancelled."""
    while True:
        samples.append((time.monotonic(), rss_mib(pids)))
        await asyncio.sleep(SAMPLE_S)


def check_records(dep: Deployment, capacity: list[Answer], soak: list[Answer]) -> tuple[bool, str]:
    """Every soak lead answered 200; every answered lead of the run stored once with the
    status it was answered with; none open; one sale per sold lead.

    The capacity phase saturates the process on purpose: a lead it refused (503, nothing
    sold) is not lost, and one stored after its 503 ends unsold, never sold.
    """
    stored = dict(dep.query("SELECT id, status FROM leads"))
    answered = {a.lead_id: a.status for a in capacity + soak if a.lead_id}
    not_ok = sum(1 for a in soak if a.http != 200)
    refused = sum(1 for a in capacity if a.http != 200)
    missing = sum(1 for lead in answered if lead not in stored)
    differ = sum(1 for lead, status in answered.items() if stored.get(lead, status) != status)
    late_sold = sum(1 for lead in set(stored) - set(answered) if stored[lead] == "sold")
    open_ = sum(1 for status in stored.values() if status == "received")
    sales, distinct = dep.query("SELECT count(*), count(DISTINCT lead_id) FROM sales")[0]
    sold = sum(1 for status in stored.values() if status == "sold")
    ok = not_ok == missing == differ == late_sold == open_ == 0 and sales == distinct == sold
    detail = (
        f"{len(soak) - not_ok}/{len(soak)} soak leads answered 200; {len(stored)} stored, "
        f"{missing} answered but not stored, {differ} stored otherwise, {open_} open, "
        f"{sales} sales for {sold} sold ({refused} refused 503 while measuring capacity)"
    )
    return ok, detail


def per_minute(answers: list[Answer], started: float, minutes: int) -> list[tuple[str, ...]]:
    rows = []
    for m in range(minutes):
        bucket = [a for a in answers if started + 60 * m <= a.sent_at < started + 60 * (m + 1)]
        lat = [a.latency_ms for a in bucket]
        bad = sum(1 for a in bucket if a.http != 200)
        rows.append(
            (
                str(m + 1),
                str(len(bucket)),
                f"{pct(lat, 50):.1f}",
                f"{pct(lat, 99):.1f}",
                f"{max(lat, default=float('nan')):.1f}",
                str(bad),
            )
        )
    return rows


async def main(args: argparse.Namespace) -> int:
    started_run = time.monotonic()
    run = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="pingtree-soak-") as tmp:
        work = Path(tmp)
        async with (
            Simulator(work) as sim,
            Deployment(
                "soak",
                work,
                sim.url,
                tree="auction",
                workers=args.workers,
                settings=app_settings(args.app_setting),
            ) as dep,
        ):
            capacity = args.rate * 2 if args.rate else 0.0
            measured: list[Answer] = []
            async with client(args.concurrency) as session:
                if not args.rate:
                    print(f"  capacity: {args.capacity_leads} leads at 32 in flight", flush=True)
                    measured, wall = await closed_loop(
                        args.capacity_leads,
                        32,
                        lambda i: _one(session, dep.base, f"{run}c", i),
                    )
                    capacity = len(measured) / wall
            rate = capacity / 2
            seconds = args.minutes * 60
            print(
                f"  soak: {rate:.1f} leads/s (half of {capacity:.1f}) for {args.minutes} min",
                flush=True,
            )
            memory: list[tuple[float, float]] = []
            sampler = asyncio.create_task(sample_memory(dep.app_pids, memory))
            start_rss = rss_mib(dep.app_pids)
            started = time.monotonic()
            try:
                async with client(args.concurrency) as session:
                    answers = await open_loop(rate, seconds, session, dep.base, f"{run}s")
            finally:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
            memory.append((time.monotonic(), rss_mib(dep.app_pids)))
            records = check_records(dep, measured, answers)
    warm_s = min(60.0, seconds / 5)
    after_warmup = next((rss for t, rss in memory if t >= started + warm_s), memory[-1][1])
    end_rss = memory[-1][1]
    growth = (end_rss - after_warmup) / after_warmup if after_warmup else float("nan")
    minutes = max(1, math.ceil(seconds / 60))
    rows = per_minute(answers, started, minutes)
    p99s = [float(r[3]) for r in rows if r[1] != "0"]
    median = statistics.median(p99s) if p99s else float("nan")
    worst = max(p99s, default=float("nan"))
    checks = {
        "lost": records,
        "memory": (
            growth < MEMORY_GROWTH_TARGET,
            f"RSS {after_warmup:.0f} MiB after {warm_s:.0f} s -> {end_rss:.0f} MiB at the end "
            f"({growth * 100:+.1f}%; {start_rss:.0f} MiB before the soak, "
            f"peak {max(r for _, r in memory):.0f})",
        ),
        "p99": (
            worst <= P99_SPREAD_TARGET * median,
            f"per-minute p99 {min(p99s, default=float('nan')):.1f}-{worst:.1f} ms, "
            f"median {median:.1f} (worst {worst / median:.2f} x median)",
        ),
    }
    print()
    print(f"pingtree soak, {time.strftime('%Y-%m-%d %H:%M %Z')}, {describe_machine()}")
    print(
        f"{len(answers)} leads over {args.minutes} min at {rate:.1f}/s (half of a measured "
        f"{capacity:.1f}/s), workers {args.workers}, PostgreSQL and Redis on this machine"
        + (f", app settings {' '.join(args.app_setting)}" if args.app_setting else "")
    )
    print(table(("minute", "leads", "p50 ms", "p99 ms", "max ms", "not 200"), rows))
    print()
    targets = {
        "lost": "0 lost",
        "memory": f"growth < {MEMORY_GROWTH_TARGET:.0%}",
        "p99": f"each minute <= {P99_SPREAD_TARGET} x median",
    }
    print(
        table(
            ("check", "target", "result", "found"),
            [(k, targets[k], "PASS" if ok else "FAIL", d) for k, (ok, d) in checks.items()],
        )
    )
    print(f"(whole run {time.monotonic() - started_run:.0f} s)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": describe_machine(),
                    "rate": rate,
                    "capacity": capacity,
                    "minutes": rows,
                    "memory_mib": memory,
                    "checks": {k: {"ok": ok, "found": d} for k, (ok, d) in checks.items()},
                },
                indent=1,
            )
        )
    failed = not all(ok for ok, _ in checks.values())
    return 1 if failed and args.strict else 0


async def _one(session: aiohttp.ClientSession, base: str, run: str, i: int) -> list[Answer]:
    return [await post_lead(session, base, person(run, i))]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=10, help="length of the soak (10)")
    p.add_argument("--workers", type=int, default=1, help="server worker processes (1)")
    p.add_argument("--rate", type=float, help="leads/s to soak at (default: half the capacity)")
    p.add_argument("--capacity-leads", type=int, default=400, help="leads to measure capacity")
    p.add_argument("--concurrency", type=int, default=256, help="client connections at most")
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument(
        "--app-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting, e.g. delivery_process=true (repeatable)",
    )
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
