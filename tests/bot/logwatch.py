"""Every bot test runs with the root logger at DEBUG and a handler built like production's
(`bot.logs`: the same filter, the same formatter, libraries quieted the same way); at teardown
the captured output is searched for what the test's personas are and said: names, Entra object
ids, Teams user ids, conversation ids, messages, situations, phones. One hit fails the test.

Cheap enough to run always: the lines are kept in memory and searched once per test."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bot import logs

MIN_LENGTH = 6  # shorter values ("Agent", "oui") are words, not identifiers
# Form inputs that carry what an agent confides: searched for in the logs.
CONFIDENTIAL_INPUTS = ("message", "description", "phone", "availability", "notes", "topic")


class LeakFound(AssertionError):
    pass


@dataclass
class LogWatch:
    handler: logging.Handler
    lines: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # value -> what it is

    def secret(self, kind: str, *values: object) -> None:
        for value in values:
            if not isinstance(value, str):
                continue
            value = value.strip()
            if len(value) >= MIN_LENGTH:
                self.secrets.setdefault(value, kind)
            digits = re.sub(r"\D", "", value)
            if kind == "phone" and len(digits) >= MIN_LENGTH:
                self.secrets.setdefault(digits, kind)  # "06 12 34 56 78" written as "0612345678"

    def person(self, *, name: str, object_id: str, teams_id: str, conversation_id: str) -> None:
        self.secret("name", name)
        self.secret("Entra object id", object_id)
        self.secret("Teams user id", teams_id)
        self.secret("conversation id", conversation_id)

    def inputs(self, values: dict[str, object]) -> None:
        for key in CONFIDENTIAL_INPUTS:
            if key in values:
                self.secret(key, values[key])

    def leaks(self) -> Iterator[str]:
        for number, line in enumerate(self.lines, 1):
            for value, kind in self.secrets.items():
                if value in line:
                    yield f"log line {number} holds a {kind} ({value!r}): {line}"

    def check(self) -> None:
        found = list(self.leaks())
        if found:
            raise LeakFound("personal data in the logs:\n" + "\n".join(found[:10]))


class _Capture(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def watching() -> Iterator[LogWatch]:
    lines: list[str] = []
    handler = _Capture(lines)
    logs.install(handler)  # production's formatter and filter
    watch = LogWatch(handler=handler, lines=lines)
    root = logging.getLogger()
    previous = root.level, {name: logging.getLogger(name).level for name in logs.THIRD_PARTY}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logs.quiet_libraries(logging.DEBUG)
    try:
        yield watch
    finally:
        root.removeHandler(handler)
        root.setLevel(previous[0])
        for name, level in previous[1].items():
            logging.getLogger(name).setLevel(level)


def planted(watch: LogWatch, names: Iterable[str]) -> None:
    """For the test that proves the watch can fail: forget what it planted."""
    watch.lines[:] = [line for line in watch.lines if not any(n in line for n in names)]
