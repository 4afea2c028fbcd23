"""The service's clock: the system's, or, in test mode only, one started at a pinned instant.

Everything that decides something from the date (slot offers, deadlines, reminders, reports,
the command line's defaults) reads the clock given by `service_clock`, so that a test can run
the real service, as a process, on any day of any year: `PERMANENCE_TEST_NOW`. The pinned clock
moves on from that instant as real time passes, so that timeouts, leases and jobs behave as in
production. Outside test mode, and off a loopback address, it is refused like the OpenID
override: a service whose clock can be set would let anyone with its settings reopen past slots.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.runtime import StartupError
from bot.settings import Settings

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class PinnedClock:
    """Reads `start` when made, then moves on with the monotonic clock."""

    def __init__(self, start: datetime, monotonic: Callable[[], float] = time.monotonic) -> None:
        if start.tzinfo is None:
            raise ValueError("a pinned instant needs its offset")
        self.start = start.astimezone(UTC)
        self._monotonic = monotonic
        self._origin = monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self._monotonic() - self._origin)

    def __repr__(self) -> str:
        return f"PinnedClock({self.start.isoformat()})"


def check_test_clock(settings: Settings) -> None:
    """Refuse a pinned clock outside test mode, and test mode off loopback."""
    if settings.test_now is None:
        return
    if not settings.test_mode:
        raise StartupError(
            "PERMANENCE_TEST_NOW is for tests only (it sets the service's clock): remove it. Tests set "
            "PERMANENCE_TEST_MODE=true as well; production never does."
        )
    if not settings.host_is_loopback():
        raise StartupError(
            f"PERMANENCE_TEST_NOW is refused on {settings.host}: a pinned clock is for tests on a loopback "
            "address only, never in production."
        )


def service_clock(settings: Settings) -> Clock:
    """The clock of the service, of the command line and of every job they run."""
    check_test_clock(settings)
    if settings.test_now is None:
        return system_clock
    return PinnedClock(settings.test_now)
