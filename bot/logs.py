"""Structured JSON logs with request ids, and exception logging that carries no personal data."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": request_id.get(),
            "message": record.getMessage(),
        }
        for key in ("event", "code", "count", "status", "duration_ms", "operation", "client_request_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library loggers can print request bodies or SQL parameters: keep them quiet.
    for noisy in ("aiohttp.access", "sqlalchemy.engine", "msrest", "azure", "httpx", "kiota", "msal"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def exception_summary(error: BaseException) -> str:
    """Exception class names and code locations only: messages may hold personal data."""
    parts = []
    current: BaseException | None = error
    while current is not None and len(parts) < 5:
        frames = traceback.extract_tb(current.__traceback__)[-3:]
        where = " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in reversed(frames))
        parts.append(f"{type(current).__module__}.{type(current).__qualname__} at {where or '?'}")
        current = current.__cause__ or current.__context__
    return " | caused by ".join(parts)
