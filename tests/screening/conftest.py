"""Shared fixtures for the screening tests."""

from __future__ import annotations

import pytest

from pingtree.screening.checks import warm_up


@pytest.fixture(scope="session", autouse=True)
def _tables() -> None:
    # Build the ZIP table once per session, so no single test pays for it.
    warm_up()
