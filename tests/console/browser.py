"""Real browsers for the console's tests: Debian's Chromium driven by Playwright.

Outside CI a machine without /usr/bin/chromium (or without playwright) skips these tests;
in CI (CI set) a missing browser fails them, so they can never be skipped silently there.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> Any:
    """Playwright's sync API, or a skip (outside CI) / failure (in CI) saying what is missing."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        from playwright import sync_api
    except ImportError:
        missing = missing or "browser tests need playwright (the test extras)"
        sync_api = None
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing, allow_module_level=True)
    return sync_api


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
