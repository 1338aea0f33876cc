"""Scale-out benchmark: one process, two workers, two servers behind a balancer, all on one
PostgreSQL and one Redis, with caps, dedup, idempotency keys and even rotation checked
exact across the processes.

Setups, each on a fresh PostgreSQL schema and Redis prefix, against one buyer simulator:
  1 process          `pingtree serve` (the baseline of the same run)
  2 workers          `pingtree serve --workers 2` (the kernel spreads connections)
  2 servers + proxy  two `pingtree serve` on their own ports behind bench/balancer.py,
                     a round-robin balancer (standing for nginx or HAProxy)

The tree: a priority tier with one campaign capped at --cap a day, then an even tier over
four buyers; every buyer takes every lead in 20-50 ms. The load (--concurrency leads in
flight) is distinct people, except that in each ten leads one person comes three times at
once (dedup: one through, two rejected) and one lead comes twice at once with the same
Idempotency-Key (one lead, one answer). Checked from the database after each setup:

  caps      sales of the capped campaign <= --cap, and its counter == sales + open holds
  dedup     no person sent three times got through twice (and how many got exactly one
            through and two rejected as duplicate)
  keys      no repeated key made two leads (and how many got both answers for one lead)
  rotation  first offers of the even tier (from the recorded attempts): most - fewest <= 1,
            plus one for each rotation turn (the shared counter in Redis) not used for an
            offer because the lead ran out of time
  lost      every request answered; every answered lead stored with the status it was
            answered with; none left open; one sale per sold lead; a lead stored after a
            503 never sold

Exactness, not completeness: at saturation a process refuses leads (503, retry) and a
lead may run out of time; neither breaks a rule, and each check says how much was
complete.

Run: .venv/bin/python bench/scale.py [--leads 600] [--concurrency 32] [--cap 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from cluster import (
    EVEN,
    Answer,
    Deployment,
    Simulator,
    client,
    closed_loop,
    cpu_seconds,
    pct,
    person,
    post_lead,
    table,
)
from machine import describe as describe_machine

SETUPS = {"1 process": (1, 1), "2 workers": (1, 2), "2 servers + proxy": (2, 1)}
"""name -> (servers, workers per server)"""


@dataclass
class Outcome:
    """One setup's figures and checks."""

    name: str
    answers: list[Answer] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_ms: float = 0.0  # app processes, per request
    proxy_cpu_ms: float = 0.0
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.answers) / self.wall_s if self.wall_s else 0.0


def workload(run: str) -> Any:
    """one(i) for the closed loop: the lead or leads of step i, sent at once."""
    groups: dict[str, list[list[Answer]]] = {"copies": [], "keys": []}

    async def one_with(session: aiohttp.ClientSession, base: str, i: int) -> list[Answer]:
        fields = person(run, i)
        if i % 10 == 0:  # one person three times at once
            sent = await asyncio.gather(*(post_lead(session, base, fields) for _ in range(3)))
            groups["copies"].append(list(sent))
            return list(sent)
        if i % 10 == 5:  # one Idempotency-Key twice at once
            key = {"Idempotency-Key": f"{run}-{i}"}
            sent = await asyncio.gather(*(post_lead(session, base, fields, key) for _ in range(2)))
            groups["keys"].append(list(sent))
            return list(sent)
        return [await post_lead(session, base, fields)]

    return one_with, groups


async def run_setup(
    name: str, servers: int, workers: int, sim: str, work: Path, args: argparse.Namespace
) -> Outcome:
    out = Outcome(name)
    run = uuid.uuid4().hex[:6]
    slug = name.replace(" + ", "-").replace(" ", "-")
    async with Deployment(slug, work, sim, cap=args.cap, servers=servers, workers=workers) as dep:
        one_with, groups = workload(run)
        async with client(args.concurrency) as session:
            warm, _ = await closed_loop(
                args.warmup, args.concurrency, lambda i: one_with(session, dep.base, i)
            )
            before = cpu_seconds(dep.app_pids)
            proxy_before = cpu_seconds([p.pid for p in dep.procs[servers:]])
            out.answers, out.wall_s = await closed_loop(
                args.leads,
                args.concurrency,
                lambda i: one_with(session, dep.base, args.warmup + i),
            )
            n = max(1, len(out.answers))
            out.cpu_ms = (cpu_seconds(dep.app_pids) - before) * 1000 / n
            out.proxy_cpu_ms = (
                (cpu_seconds([p.pid for p in dep.procs[servers:]]) - proxy_before) * 1000 / n
            )
        out.checks = check(dep, warm + out.answers, groups, args.cap)
    return out


def settled(dep: Deployment, limit_s: float = 60) -> int:
    """Wait (up to limit_s) until no lead is left open: records written in the background
    after a deadline land a moment later. The number still open."""
    deadline = time.monotonic() + limit_s
    while True:
        open_ = int(dep.query("SELECT count(*) FROM leads WHERE status = 'received'")[0][0])
        if open_ == 0 or time.monotonic() > deadline:
            return open_
        time.sleep(1)


def check(
    dep: Deployment, answers: list[Answer], groups: dict[str, list[list[Answer]]], cap: int
) -> dict[str, tuple[bool, str]]:
    """Every rule, from the database and the answers of the whole setup (warm-up included).

    Exactness, not completeness: a saturated process refuses leads (503, nothing sold) and
    a lead may run out of time; neither breaks a rule. Each check says how much was
    complete beside whether a rule was broken.
    """
    checks: dict[str, tuple[bool, str]] = {}
    open_ = settled(dep)
    capped = dep.query("SELECT count(*) FROM sales WHERE campaign = 'capped'")[0][0]
    held = dep.query(
        "SELECT count(*) FROM cap_reservations "
        "WHERE campaign = 'capped' AND status IN ('held', 'uncertain')"
    )[0][0]
    counter = dep.query(
        "SELECT coalesce(sum(count), 0) FROM cap_counters WHERE campaign = 'capped'"
    )[0][0]
    checks["caps"] = (
        capped <= cap and counter == capped + held,
        f"{capped} sold of cap {cap}, counter {counter} = sales + {held} open holds",
    )
    twice, complete = 0, 0
    for sent in groups["copies"]:
        through = [a for a in sent if a.http == 200 and "duplicate" not in a.reasons]
        twice += len(through) > 1
        complete += all(a.http == 200 for a in sent) and len(through) == 1
    checks["dedup"] = (
        twice == 0,
        f"{twice} people through twice; {complete}/{len(groups['copies'])} "
        "answered once through, twice duplicate",
    )
    split = sum(1 for sent in groups["keys"] if len({a.lead_id for a in sent if a.http == 200}) > 1)
    one = sum(1 for sent in groups["keys"] if all(a.http == 200 for a in sent))
    checks["keys"] = (
        split == 0,
        f"{split} keys with two leads; {one}/{len(groups['keys'])} both answered, one lead",
    )
    firsts: dict[str, str] = {}
    for lead_id, campaign in dep.query(
        "SELECT lead_id, campaign FROM attempts WHERE tier = 'even' AND kind = 'post' ORDER BY id"
    ):
        firsts.setdefault(lead_id, campaign)
    offers = Counter(firsts.values())
    spread = [offers.get(n, 0) for n in EVEN]
    turns = dep.rotation_turns("main/even")
    # One counter: the first offers differ by one at most, and by one more for each lead
    # that took its turn but made no offer (its time ran out first).
    missed = max(0, turns - len(firsts))
    checks["rotation"] = (
        max(spread) - min(spread) <= 1 + missed,
        f"first offers {'/'.join(str(c) for c in spread)}; {turns} turns taken, {missed} unused",
    )
    transport = sum(1 for a in answers if a.http == 0)
    refused = sum(1 for a in answers if a.http == 503)
    ids = {a.lead_id: a.status for a in answers if a.lead_id}
    stored = dict(dep.query("SELECT id, status FROM leads"))
    missing = sum(1 for lead in ids if lead not in stored)
    differ = sum(1 for lead, status in ids.items() if stored.get(lead, status) != status)
    # A lead refused 503 because it could not be stored in time may land afterwards,
    # unsold (busy): stored, never sold, and not in any answer.
    late = [lead for lead, status in stored.items() if lead not in ids]
    late_sold = sum(1 for lead in late if stored[lead] == "sold")
    sales, distinct = dep.query("SELECT count(*), count(DISTINCT lead_id) FROM sales")[0]
    sold = sum(1 for lead, status in stored.items() if status == "sold")
    checks["lost"] = (
        transport == missing == differ == late_sold == open_ == 0 and sales == distinct == sold,
        f"{len(answers) - transport}/{len(answers)} answered ({refused} refused 503), "
        f"{missing} answered but not stored, {differ} stored otherwise, {open_} open, "
        f"{sales} sales for {sold} sold",
    )
    return checks


def report(outcomes: list[Outcome], args: argparse.Namespace) -> str:
    base = outcomes[0].rate if outcomes else 0.0
    rows: list[tuple[str, ...]] = []
    for o in outcomes:
        lat = [a.latency_ms for a in o.answers]
        verdicts = [ok for ok, _ in o.checks.values()]
        cpu = f"{o.cpu_ms:.1f}" + (f" + proxy {o.proxy_cpu_ms:.1f}" if o.proxy_cpu_ms else "")
        rows.append(
            (
                o.name,
                f"{o.rate:.1f}",
                "baseline" if o is outcomes[0] else f"x{o.rate / base:.2f}" if base else "-",
                f"{pct(lat, 50):.1f} / {pct(lat, 99):.1f}",
                cpu,
                "PASS" if all(verdicts) else "FAIL",
            )
        )
    lines = [
        table(
            ("setup", "requests/s", "vs 1 process", "p50 / p99 ms", "app CPU ms/req", "exact"),
            rows,
        )
    ]
    lines.append("")
    check_rows = [
        (o.name, name, "PASS" if ok else "FAIL", detail)
        for o in outcomes
        for name, (ok, detail) in o.checks.items()
    ]
    lines.append(table(("setup", "check", "result", "found"), check_rows))
    lines.append(
        f"\n{args.leads} measured steps per setup after {args.warmup} warm-up steps "
        f"(a step is 1 request, or 3 for a repeated person, 2 for a repeated key), "
        f"{args.concurrency} in flight, cap {args.cap}. PostgreSQL and Redis on this machine."
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--leads", type=int, default=600, help="measured steps per setup (600)")
    p.add_argument("--warmup", type=int, default=60, help="unmeasured steps per setup (60)")
    p.add_argument("--concurrency", type=int, default=32, help="steps in flight (32)")
    p.add_argument("--cap", type=int, default=50, help="the capped campaign's daily cap (50)")
    p.add_argument(
        "--setups", default=",".join(SETUPS), help=f"comma-separated, of: {', '.join(SETUPS)}"
    )
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    p.add_argument("--strict", action="store_true", help="exit 1 when a check fails")
    return p.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    wanted = [s.strip() for s in args.setups.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SETUPS]
    if unknown:
        raise SystemExit(f"unknown setup(s) {unknown}; choose from {list(SETUPS)}")
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="pingtree-scale-") as tmp:
        work = Path(tmp)
        async with Simulator(work) as sim:
            for name in wanted:
                servers, workers = SETUPS[name]
                print(f"  {name}: {args.leads} steps at concurrency {args.concurrency}", flush=True)
                outcomes.append(await run_setup(name, servers, workers, sim.url, work, args))
    print()
    print(
        f"pingtree scale-out benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}, {describe_machine()}"
    )
    text = report(outcomes, args)
    print(text)
    print(f"(whole run {time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": describe_machine(),
                    "setups": {
                        o.name: {
                            "requests_per_s": o.rate,
                            "latency_ms": {
                                q: pct([a.latency_ms for a in o.answers], q) for q in (50, 99)
                            },
                            "app_cpu_ms_per_request": o.cpu_ms,
                            "checks": {
                                k: {"ok": ok, "found": d} for k, (ok, d) in o.checks.items()
                            },
                        }
                        for o in outcomes
                    },
                },
                indent=1,
            )
        )
    failed = any(not ok for o in outcomes for ok, _ in o.checks.values())
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
