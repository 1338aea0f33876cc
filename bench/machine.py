"""What the benchmarks ran on, printed beside every figure."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sqlite3
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def default_postgres_url() -> str:
    """The PostgreSQL a benchmark uses unless told: PINGTREE_BENCH_POSTGRES_URL, else the
    tests' PINGTREE_TEST_POSTGRES_URL, else the local one."""
    return (
        os.environ.get("PINGTREE_BENCH_POSTGRES_URL")
        or os.environ.get("PINGTREE_TEST_POSTGRES_URL")
        or DEFAULT_PG
    )


def describe() -> str:
    """CPUs, CPU model, Python version and load average, in one line."""
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    one, five, _ = os.getloadavg()
    load = f", load average {one:.2f} (1 min) {five:.2f} (5 min)"
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}{load}"


@dataclass(frozen=True)
class IdlePenalty:
    """How much slower a fixed piece of work runs right after the process slept."""

    idle_s: float
    warm_ms: float  # median, run back to back
    after_idle_ms: float  # median, each run after idle_s asleep

    @property
    def factor(self) -> float:
        return self.after_idle_ms / self.warm_ms if self.warm_ms else float("nan")

    def text(self) -> str:
        return (
            f"{self.after_idle_ms:.2f} ms, x{self.factor:.1f} its time back to back "
            f"({self.warm_ms:.2f} ms)"
        )


_LEAD = {
    "first_name": "Ana",
    "last_name": "Lee",
    "email": "ana@example.com",
    "phone": "+15555550123",
    "zip_code": "90210",
    "state": "CA",
    "vehicle": {"year": 2019, "make": "Toyota", "model": "Camry"},
}


def idle_penalty(idle_s: float = 0.1, rounds: int = 25) -> IdlePenalty:
    """Time a fixed piece of work (a lead's fields through JSON 20 times and one row into an
    in-memory SQLite table: some 0.1-0.2 ms) back to back, then each time after idle_s
    asleep; medians.

    Context for the figures at one lead in flight: each lead there waits some 100 ms for
    its buyers, and the work that follows the wait (the hold, the record, the answer) runs
    at the machine's after-idle pace. On a virtual machine whose caches go cold while a
    process sleeps that pace can be several times the warm one; nothing the app does
    changes it. Blocks the calling thread for about rounds x idle_s."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")

    def work() -> float:
        started = time.perf_counter()
        body = ""
        for _ in range(20):
            body = json.dumps(_LEAD)
            json.loads(body)
        db.execute("INSERT INTO t (body) VALUES (?)", (body,))
        db.commit()
        return (time.perf_counter() - started) * 1000

    try:
        for _ in range(5):
            work()
        warm = [work() for _ in range(rounds)]
        after_idle = []
        for _ in range(rounds):
            time.sleep(idle_s)
            after_idle.append(work())
    finally:
        db.close()
    return IdlePenalty(idle_s, statistics.median(warm), statistics.median(after_idle))
