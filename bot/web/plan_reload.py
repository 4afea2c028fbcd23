"""Reloading the plan without a restart (SIGHUP, `permanence plan reload`): the configured plan
file is read again and validated like `permanence plan check`; on any problem the running plan
stays, the refusal is logged (no content of the file) and counted. A valid plan applies to every
use case at once, and the booked appointments it leaves without room are reported (references
only), as `plan check --against-database` does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot import texts
from bot.application import Application, plan_identity
from bot.application.operations import orphaned_by
from bot.metrics import Metrics
from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ReloadResult:
    applied: bool
    source: str  # the file read ("sample plan" when none is configured)
    problems: list[str] = field(default_factory=list)  # French and English, with the line at fault
    warnings: list[str] = field(default_factory=list)  # budget of this year and the next
    orphans: list[str] = field(default_factory=list)  # references of appointments left without room

    def as_json(self) -> dict[str, object]:
        return {
            "applied": self.applied,
            "source": self.source,
            "problems": self.problems,
            "warnings": self.warnings,
            "orphans": self.orphans,
        }


class PlanReloader:
    def __init__(
        self,
        *,
        settings: Settings,
        app: Application,
        metrics: Metrics,
        clock: Callable[[], datetime],
        on_applied: Callable[[], None] | None = None,
    ) -> None:
        self.settings, self.app, self.metrics, self.clock = settings, app, metrics, clock
        self.on_applied = on_applied  # e.g. forget the readiness facts of the old plan
        self._lock = asyncio.Lock()  # one reload at a time

    async def reload(self) -> ReloadResult:
        from bot.checks.doctor import plan_text
        from bot.checks.plan_check import budget_warnings, check_plan_text

        async with self._lock:
            try:
                source, text = await asyncio.to_thread(plan_text, self.settings)
            except (OSError, UnicodeDecodeError) as err:
                where = str(self.settings.plan_file)
                return self._refused(where, [f"{where} : illisible / unreadable ({type(err).__name__})"])
            checked, problems = check_plan_text(text)
            if checked is None:
                return self._refused(source, [line for p in problems for line in p.lines(source)])
            deployment = self.settings.deployment_from_text(text)  # with the workers' identities
            now = self.clock()
            year = now.astimezone(texts.PARIS).year
            orphans = await orphaned_by(self.app.context.store, deployment, now, texts.PARIS)
            try:  # who is a worker changes only as the operator approved; every change audited
                await plan_identity.apply(self.app.context.store, deployment, now, how="reload")
            except plan_identity.PlanRefused as err:
                return self._refused(source, [str(err)])
            self.app.context.replace_deployment(deployment)
            await self.app.sync_workers()
            if self.on_applied is not None:
                self.on_applied()
            self.metrics.inc("permanence_plan_reloads_total", result="applied")
            log.info(
                "plan reloaded",
                extra={"event": "plan.reload", "count": len(orphans), "code": "orphans" if orphans else "ok"},
            )
            return ReloadResult(
                applied=True, source=source, warnings=budget_warnings(deployment, (year, year + 1)), orphans=orphans
            )

    def _refused(self, source: str, problems: list[str]) -> ReloadResult:
        self.metrics.inc("permanence_plan_reloads_total", result="refused")
        # The problems quote the file (names, phones): only their number reaches the log.
        log.error(
            "plan reload refused, the running plan is kept",
            extra={"event": "plan.reload", "code": "refused", "count": len(problems)},
        )
        return ReloadResult(applied=False, source=source, problems=problems)
