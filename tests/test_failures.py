"""`kill -USR1` asks a pingtree process where it is: each thread's stack on stderr."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

WAITING = """
import sys, time
from pingtree.failures import stacks_on_sigusr1
stacks_on_sigusr1()
def waiting_here():
    print("ready", flush=True)  # from here on the stack shows this function
    time.sleep(30)
waiting_here()
"""


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 on this platform")
def test_sigusr1_prints_where_each_thread_is_and_the_process_goes_on() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WAITING],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        assert process.poll() is None  # asked, not stopped
    finally:
        process.kill()
        _, stderr = process.communicate(timeout=10)
    assert "waiting_here" in stderr and "Current thread" in stderr, stderr
