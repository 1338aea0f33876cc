"""Instructions per lead in the app: the engine's cost, counted by valgrind, not timed.

CPU time per lead moves with the machine's load (other processes, caches, how many events
each loop turn serves); the instructions the app executes for a lead barely do. This runs
the engine benchmark's setup (bench/engine.py: the same simulator, configuration and
leads) with the app under `valgrind --tool=callgrind`, instrumentation switched on only
while a scenario's leads run, and prints instructions (Ir) per lead for each scenario and
database. Slow (valgrind runs Python some 50 times slower): a few dozen leads at a time.
What the idle app counts in as much wall time (timers, background passes) is measured
right after each scenario and taken off: it grows with valgrind's pace and the machine's
load, not with the leads.

Run: .venv/bin/python bench/instructions.py [--leads 30] [--concurrency 1] [--db both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from engine import (
    PINGTREE,
    Database,
    app_settings,
    drop_postgres,
    engine_config,
    engine_load,
    free_port,
    prepare_postgres,
    simulator_config,
    start,
    stop,
    wait_http,
)
from machine import default_postgres_url
from machine import describe as describe_machine

SCENARIOS = ("ping_post", "priority")


def counted(dump: Path) -> int:
    """The instructions a callgrind dump counted since the dump before it (its cost lines
    add up to `totals`; the `summary` line is off once instrumentation was switched)."""
    for line in dump.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


async def dumped(out: Path, n: int, pid: str) -> int:
    """Dump callgrind's counts (the n-th dump), switch counting off; what it counted."""
    control("-d", pid)
    control("-i", "off", pid)
    dump = Path(f"{out}.{n}")
    for _ in range(100):
        if dump.exists() and dump.stat().st_size:
            break
        await asyncio.sleep(0.1)
    return counted(dump)


def slow_motion(config: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's configuration with time enough for valgrind's pace: every lead takes
    the path it takes at full speed (no ping or post timing out, no tree running out)."""
    for campaign in config["campaigns"]:
        campaign["delivery"]["timeout_ms"] = 60_000
    for tree in config["trees"]:
        tree["max_processing_ms"] = 120_000
    return config


def control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


async def measure(
    db: Database, sim: str, work: Path, args: argparse.Namespace, run_id: str
) -> dict[str, float]:
    """Instructions per lead of each scenario, in millions."""
    env = db.env() | app_settings(["max_loop_lag_share=0", *args.app_setting])
    config = work / f"engine-{db.name}.yaml"
    config.write_text(yaml.safe_dump(slow_motion(engine_config(sim, caps=True)), sort_keys=False))
    subprocess.run(
        [PINGTREE, "apply", str(config)], env=env, cwd=work, check=True, capture_output=True
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = (args.keep or work) / f"callgrind-{db.name}.out"
    serve = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        PINGTREE,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = work / f"app-{db.name}.log"
    app = start(serve, env, work, log)
    pid = str(app.pid)
    figures: dict[str, float] = {}
    try:
        await wait_http(f"{base}/openapi.json", app, log, limit_s=900)
        for scenario in SCENARIOS:  # warm: first-use costs (caches, connections) stay out
            await engine_load(base, scenario, f"{run_id}w", args.warmup, 1, 600, {})
        dumps = 0
        for scenario in args.scenario or SCENARIOS:
            control("-i", "on", pid)
            began = time.monotonic()
            run = await engine_load(
                base, scenario, f"{run_id}{scenario}", args.leads, args.concurrency, 900, {}
            )
            lasted = time.monotonic() - began
            dumps += 1
            total = await dumped(out, dumps, pid)
            # The idle app for as long (timers, background passes): under valgrind a lead
            # takes ~50 times its wall time, so these weigh on a lead as they never would.
            control("-i", "on", pid)
            await asyncio.sleep(lasted)
            dumps += 1
            idle = await dumped(out, dumps, pid)
            leads = max(1, len(run.samples))
            name = f"{scenario}#{dumps}" if scenario in figures else scenario
            figures[name] = (total - idle) / leads / 1e6
            print(
                f"  {db.name} {name}: {len(run.samples)} leads in {lasted:.0f} s, "
                f"{run.statuses()}, {total / leads / 1e6:.1f} M instructions per lead, "
                f"{idle / leads / 1e6:.1f} M of them idle ones: {figures[name]:.1f} M net",
                flush=True,
            )
    finally:
        stop(app)
    return figures


async def main(args: argparse.Namespace) -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)")
        return 1
    run_id = uuid.uuid4().hex[:8]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="pingtree-instructions-") as tmp:
        work = Path(tmp)
        sim_port = free_port()
        sim = f"http://127.0.0.1:{sim_port}"
        sim_file = work / "simulator.yaml"
        sim_file.write_text(yaml.safe_dump(simulator_config(sim_port), sort_keys=False))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINGTREE_")}
        simulator = start(
            [PINGTREE, "buyers-sim", "--config", str(sim_file), "--port", str(sim_port)],
            env,
            work,
            work / "simulator.log",
        )
        try:
            await wait_http(f"{sim}/health", simulator, work / "simulator.log")
            for name in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
                data_dir = work / f"data-{name}"
                data_dir.mkdir()
                url = prepare_postgres(args.postgres_url) if name == "postgres" else None
                try:
                    results[name] = await measure(
                        Database(name, url, data_dir), sim, work, args, run_id
                    )
                finally:
                    if url is not None:
                        drop_postgres(args.postgres_url)
        finally:
            stop(simulator)
    print()
    print(f"app instructions per lead (millions), {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"{describe_machine()}; {args.leads} leads at concurrency {args.concurrency}")
    for name, figures in results.items():
        text = ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
        print(f"  {name}: {text}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--leads", type=int, default=30, help="leads measured per scenario")
    p.add_argument("--warmup", type=int, default=5, help="unmeasured leads per scenario")
    p.add_argument("--concurrency", type=int, default=1, help="leads in flight (default 1)")
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--app-setting", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--postgres-url", default=default_postgres_url())
    p.add_argument(
        "--scenario", action="append", choices=SCENARIOS, help="measure these, in this order"
    )
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep callgrind's dumps in DIR")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
