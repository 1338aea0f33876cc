"""What the benchmarks ran on, printed beside every figure."""

from __future__ import annotations

import contextlib
import os
import platform
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
