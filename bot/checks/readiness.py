"""Readiness (`/readyz`): the doctor's facts without personal data, cached between calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from bot import texts
from bot.application.context import Context
from bot.application.diagnostics import Check, Diagnostics, Status, ok, problem
from bot.checks.doctor import budget_checks, provider_checks, schema_head, webhooks_enabled
from bot.settings import Settings
from graph.provider import CalendarProvider as Provider
from storage.store import Store

# What takes the service out of rotation: without them nothing works. Any other problem (one
# mailbox, one worker unreachable, a late outbox) leaves it ready but "degraded".
CRITICAL = frozenset({"database", "calendar"})


class Readiness:
    """The doctor's facts about the running service, for `/readyz` and the gauges: the database
    is pinged at each call, the rest (Graph calls for each mailbox) is kept `ttl` seconds so that
    probes and scrapes cost one round of Graph calls a minute at most."""

    def __init__(
        self,
        *,
        store: Store,
        context: Context,
        provider: Provider,
        settings: Settings,
        clock: Callable[[], datetime],
        ttl: float = 60.0,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.store, self.context, self.provider, self.settings, self.clock = store, context, provider, settings, clock
        self.ttl = ttl
        self.monotonic = monotonic or time.monotonic
        self._head: str | None = None
        self._cached: tuple[float, list[Check]] | None = None
        self._lock = asyncio.Lock()

    async def _database(self) -> list[Check]:
        try:
            await self.store.ping()
            current = await self.store.current_revision()
        except Exception as err:  # noqa: BLE001 - readiness reports, never raises
            return [problem("database", "", type(err).__name__[:40], "")]
        if self._head is None:
            self._head = await asyncio.to_thread(schema_head, self.store.url)
        if current != self._head:
            return [problem("database", "schema", "not_at_head", "")]
        return [ok("database")]

    async def _slow(self) -> list[Check]:
        async with self._lock:  # concurrent probes share one round
            now_mono = self.monotonic()
            if self._cached is not None and now_mono - self._cached[0] < self.ttl:
                return self._cached[1]
            now = self.clock()
            year = now.astimezone(texts.PARIS).year
            diagnostics = Diagnostics(self.context, self.provider, webhooks=webhooks_enabled(self.settings))
            checks = await provider_checks(self.provider)
            checks += budget_checks(self.context.deployment, (year, year + 1))
            try:
                checks += await diagnostics.teams()
                checks += await diagnostics.subscriptions(now)
                checks += await diagnostics.outbox(now)
            except Exception as err:  # noqa: BLE001 - the database check says more
                checks.append(problem("database", "", type(err).__name__[:40], ""))
            checks += await diagnostics.mailboxes(now)
            self._cached = (now_mono, checks)
            return checks

    def forget(self) -> None:
        """Drop the cached facts (after a plan reload)."""
        self._cached = None

    async def checks(self) -> list[Check]:
        return [*await self._database(), *await self._slow()]

    async def unreachable_in_teams(self) -> float:
        return float(sum(1 for c in await self._slow() if c.area == "teams" and c.failed))

    async def unreadable_mailboxes(self) -> float:
        return float(sum(1 for c in await self._slow() if c.area == "mailbox" and c.failed))

    async def report(self) -> tuple[int, dict[str, object]]:
        """(HTTP status, body) of `/readyz`: codes only, workers by their plan key."""
        checks = await self.checks()
        areas: dict[str, str] = {}
        workers: dict[str, dict[str, str]] = {}
        worker_ids = {w.id for w in self.context.directory.workers}
        for check in checks:
            if check.area in ("teams", "mailbox", "subscription") and check.subject in worker_ids:
                workers.setdefault(check.subject, {})[check.area] = check.code
            elif check.status is not Status.NOT_APPLICABLE and areas.get(check.area, "ok") == "ok":
                areas[check.area] = check.code if check.failed else "ok"  # an area's first problem, else ok
        critical = any(c.failed and c.area in CRITICAL for c in checks)
        degraded = any(c.failed for c in checks)
        status = "not ready" if critical else "degraded" if degraded else "ready"
        body: dict[str, object] = {
            "status": status,
            "checks": areas,
            "workers": workers,
            "counts": {
                "workers": len(worker_ids),
                "without_teams": sum(1 for c in checks if c.area == "teams" and c.failed),
                "unreadable_mailboxes": sum(1 for c in checks if c.area == "mailbox" and c.failed),
            },
        }
        return (503 if critical else 200), body
