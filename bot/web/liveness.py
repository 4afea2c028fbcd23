"""Liveness of the background work: one heartbeat per task (the outbox dispatcher, each scheduler
job). `/healthz` answers 503 naming a task that has stopped or whose heartbeat is too old.

Names are the tasks' own (`outbox`, `escalate`, `calendar-sync`…): never a person or an id.
Ages are measured on a monotonic clock, apart from the service's wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(kw_only=True, slots=True)
class _Task:
    max_age: float  # seconds without a heartbeat before the task is said to be stuck
    alive: Callable[[], bool]  # False once the task has stopped (finished, cancelled, unscheduled)
    last: float  # the last heartbeat (or when the task was registered)


class Heartbeats:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tasks: dict[str, _Task] = {}

    def expect(self, name: str, *, max_age: float, alive: Callable[[], bool] = lambda: True) -> None:
        """Watch a task: it must beat at least every `max_age` seconds while `alive()` holds."""
        self._tasks[name] = _Task(max_age=max_age, alive=alive, last=self.clock())

    def beat(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            task.last = self.clock()

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def problems(self) -> dict[str, str]:
        """Each stopped or stuck task, with why ("stopped", "no heartbeat for 1234 s")."""
        now = self.clock()
        found: dict[str, str] = {}
        for name, task in sorted(self._tasks.items()):
            try:
                alive = task.alive()
            except Exception:  # noqa: BLE001 - a liveness probe reports, never raises
                alive = False
            if not alive:
                found[name] = "stopped"
            elif now - task.last > task.max_age:
                found[name] = f"no heartbeat for {round(now - task.last)} s"
        return found
