"""One JSON object per log line: time, level, logger, message and the lead id.

The message is the code's own text (it never carries field values); a failure is
described by pingtree.failures (exception classes and stack, never the exception's text,
which can repeat a lead's PII).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

from pingtree.failures import describe, stack
from pingtree.logs.context import current_lead

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON, with lead_id when on a lead's path."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        lead = getattr(record, "lead_id", None) or current_lead()
        if lead is not None:
            line["lead_id"] = lead
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            line["error"] = describe(exc)
            line["stack"] = stack(exc)
        return json.dumps(line, default=str)


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    """The process's logging: one stderr handler in the chosen format, replacing any other."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic narrates every migration step at INFO; an operator needs only its warnings.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
