"""What the benchmarks ran on, printed beside every figure."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path


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
