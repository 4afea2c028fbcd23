"""Structured JSON logs with request ids, and exception logging that carries no personal data.

What reaches the output is an allow-list, and it holds at every level, DEBUG included: our
own loggers, and third-party loggers only from WARNING on (their DEBUG and INFO lines carry
Bot Connector URLs with conversation and Teams user ids, request bodies, SQL parameters and
result rows of ciphertext), whatever level someone sets on them later. Only the fields below
are written; a library's record keeps its format string without the arguments; and every
text is rewritten: URL paths and queries, long identifiers, tokens and phone-like digit runs
are replaced.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

OWN_LOGGERS = ("bot", "storage", "graph", "booking", "permanence")
# Third-party loggers known to write URLs, bodies or SQL below WARNING; any other library is
# held to the same rule (only WARNING and above, rewritten) by `PrivacyFilter`.
THIRD_PARTY = (
    "aiohttp",
    "urllib3",
    "requests",
    "msrest",
    "botbuilder",
    "botframework",
    "httpx",
    "httpcore",
    "azure",
    "msal",
    "kiota",
    "kiota_http",
    "msgraph",
    "sqlalchemy",
    "alembic",
    "asyncio",
    "hpack",
)
UNREDACTED = ("client_request_id",)
_REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
FIELDS = (
    "event",
    "code",
    "count",
    "status",
    "duration_ms",
    "operation",
    "client_request_id",
    "worker",  # a worker's id in the plan (such as "ass"): not personal data
)  # the extra fields written, nothing else

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s\"'<>?#]+)[^\s\"'<>]*")
_PATH = re.compile(r"(?<![\w/])/[\w.~%:@-]+(?:/[\w.~%:@!$&'()*+,;=-]*)+(?:\?[^\s\"']*)?")
_IDS = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # Entra / GUIDs
    r"|\b\d{1,2}:[\w@.-]{6,}"  # Teams ids: 29:..., 19:...@thread...
    r"|\b[a-z]:[\w-]{6,}"  # personal conversation ids: a:...
    r"|[A-Za-z0-9+/_=-]{24,}"  # tokens, ciphertexts, long ids
    r"|\+?\d[\d .()-]{6,}\d"  # phone-like digit runs
)


def redact(text: str) -> str:
    """The text without URL paths or queries, identifiers, tokens or phone numbers."""
    text = _URL.sub(lambda m: m.group(1) + "/…", text)
    text = _PATH.sub("/…", text)
    return _IDS.sub("…", text)


# A printf-style placeholder of a library's format string (its arguments are never written).
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[sdrifuxXeEgGcao]")


def _own(name: str) -> bool:
    return name == "root" or name == "__main__" or name.split(".", 1)[0] in OWN_LOGGERS


class PrivacyFilter(logging.Filter):
    """Drops third-party records below WARNING, whatever their logger's level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _own(record.name) or record.levelno >= logging.WARNING


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # A library's arguments carry the data (URLs, bodies, names); its format string is its
        # own static text, so only that is kept.
        # Its placeholders read « … » (left out), not an unfilled « %s ».
        if _own(record.name):
            message = record.getMessage()
        else:
            message = _PLACEHOLDER.sub("…", str(record.msg)).replace("%%", "%")
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": request_id.get(),
            "message": redact(message),
        }
        for key in FIELDS:
            if hasattr(record, key):
                value = getattr(record, key)
                if key in UNREDACTED and isinstance(value, str) and _REQUEST_ID.fullmatch(value):
                    entry[key] = value  # a random id we made for Microsoft support: no one's identifier
                else:
                    entry[key] = value if isinstance(value, int | float | bool) or value is None else redact(str(value))
        return json.dumps(entry, ensure_ascii=False)


def install(handler: logging.Handler) -> logging.Handler:
    """Give `handler` the production formatter and filter (the test suite's log watch uses
    this very function, so what it checks is what production writes)."""
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PrivacyFilter())
    return handler


def quiet_libraries(level: int) -> None:
    """Third-party loggers at WARNING at least, at the source (saves formatting work); the
    filter holds if a level is changed later."""
    for noisy in THIRD_PARTY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))


def configure(level: str = "INFO") -> None:
    handler = install(logging.StreamHandler(sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_libraries(root.level)


def exception_summary(error: BaseException) -> str:
    """Exception class names and code locations only: messages may hold personal data."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 5:
        frames = traceback.extract_tb(current.__traceback__)[-3:]
        where = " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in reversed(frames))
        parts.append(f"{type(current).__module__}.{type(current).__qualname__} at {where or '?'}")
        current = current.__cause__ or current.__context__
    return " | caused by ".join(parts)
