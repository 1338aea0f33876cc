"""Describe a failure for the log without the values it carries (a lead's PII, SQL parameters).

A database error's text repeats what was being written: SQLAlchemy appends the statement's
parameters, PostgreSQL adds DETAIL ("Failing row contains (...)") and CONTEXT lines, and
many Python exceptions quote the value they choked on. The log gets the exception classes,
the SQLSTATE and constraint where there is one, and the stack (code lines, no values).
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import traceback
from typing import Any

MAX_CHAIN = 5


def describe(exc: BaseException) -> str:
    """Class names down the exception chain, with SQLSTATE/constraint for database errors."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < MAX_CHAIN:
        seen.add(id(current))
        parts.append(_one(current))
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


def _one(exc: BaseException) -> str:
    name = type(exc).__name__
    # A database error only where SQLAlchemy is loaded: a delivery process, which never
    # loads it, starts a third of a second sooner.
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is None or not isinstance(exc, sa.StatementError):
        return name
    orig: Any = exc.orig
    details = [f"{name}({type(orig).__name__})"] if orig is not None else [name]
    state = getattr(orig, "sqlstate", None)
    if state:
        details.append(f"sqlstate={state}")
    diag = getattr(orig, "diag", None)
    for attr in ("table_name", "constraint_name"):
        value = getattr(diag, attr, None)
        if value:
            details.append(f"{attr.removesuffix('_name')}={value}")
    if isinstance(exc, sa.DBAPIError) and orig is not None and not state:
        # SQLite's codes name the kind of failure without the data (e.g. SQLITE_CONSTRAINT).
        code = getattr(orig, "sqlite_errorname", None)
        if code:
            details.append(f"code={code}")
    return " ".join(details)


def stack(exc: BaseException) -> str:
    """Where the failure happened: file, line, function and code, never the message."""
    frames = traceback.extract_tb(exc.__traceback__)
    return "".join(traceback.format_list(frames)).rstrip()


def log_failure(logger: logging.Logger, message: str, exc: BaseException, *args: object) -> None:
    """Log an unexpected failure (message % args) with describe() and stack() of exc."""
    logger.error(message + ": %s\n%s", *args, describe(exc), stack(exc))


def stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` prints each thread's stack to stderr: where a process is that will
    not stop (POSIX only: Windows has no SIGUSR1)."""
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
