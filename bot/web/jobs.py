"""The service's background jobs: each on one replica per tick, watched by the heartbeats that
`/healthz` reports."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import logs
from bot.application import retention
from bot.bootstrap import Runtime
from bot.settings import Settings
from bot.web.liveness import Heartbeats
from storage.audit_anchor import AuditAnchors
from storage.store import Store

log = logging.getLogger(__name__)


def periodic(
    scheduler: AsyncIOScheduler,
    store: Store,
    name: str,
    work: Callable[[], Awaitable[object]],
    *,
    seconds: int,
    first_in: int,
    heartbeats: Heartbeats | None = None,
    timeout: float = 900,
) -> None:
    """A job run on one replica per tick (advisory lock); a failed tick is retried at the next.

    Each tick beats `heartbeats` (on every replica, whoever holds the lock): the job is stuck
    when no tick started or ended for `seconds + timeout`, stopped once it is unscheduled."""

    async def tick() -> None:
        if heartbeats is not None:
            heartbeats.beat(name)
        try:
            with store.for_jobs():  # the jobs' own connections: a job never takes a turn's
                async with store.advisory_lock(name) as mine:
                    if mine:
                        await work()
        except Exception as err:  # noqa: BLE001 - the scheduler must keep ticking
            store.note_if_exhausted(err, "job")
            log.error("%s tick failed: %s", name, logs.exception_summary(err))
        finally:
            if heartbeats is not None:
                heartbeats.beat(name)

    if heartbeats is not None:
        heartbeats.expect(
            name, max_age=seconds + timeout, alive=lambda: scheduler.running and scheduler.get_job(name) is not None
        )

    scheduler.add_job(
        tick,
        "interval",
        seconds=seconds,
        id=name,
        max_instances=1,
        coalesce=True,
        # The scheduler runs on real time, whatever the service's clock says (a pinned test clock).
        next_run_time=datetime.now(UTC) + timedelta(seconds=first_in),
    )


def schedule_jobs(
    scheduler: AsyncIOScheduler, runtime: Runtime, settings: Settings, heartbeats: Heartbeats, anchors: AuditAnchors
) -> None:
    """Urgent escalation, the SQLite checkpoint, the retention purge, reaching the workers, the
    audit chain's anchors, and with Graph the calendar sync and its subscriptions."""
    timeout = settings.heartbeat_timeout_seconds
    clock, store, dispatcher = runtime.clock, runtime.store, runtime.dispatcher

    async def escalate() -> None:
        if await runtime.app.urgent.escalate_due(clock()):
            dispatcher.wake()

    periodic(scheduler, store, "escalate", escalate, seconds=60, first_in=5, heartbeats=heartbeats, timeout=timeout)
    if store.dialect == "sqlite":  # the embedded database's WAL, copied beside the turns, not in them
        periodic(
            scheduler,
            store,
            "checkpoint",
            store.checkpoint,
            seconds=1,
            first_in=1,
            heartbeats=heartbeats,
            timeout=timeout,
        )

    async def purge() -> None:
        counts = await retention.purge(store, settings.retention(clock()), clock())
        log.info("retention purge done", extra={"event": "retention.purge", "count": sum(counts.values())})

    periodic(scheduler, store, "retention", purge, seconds=86400, first_in=60, heartbeats=heartbeats, timeout=timeout)

    async def reach() -> None:
        # Workers reachable before they are needed: the app installed for each, her chat kept.
        reachable = await runtime.reach_workers()
        missing = sum(not r.teams_conversation for r in reachable if r.entra_identity)
        log.info("workers reached: %d without a Teams conversation", missing, extra={"event": "people.reach"})

    periodic(
        scheduler, store, "reach-workers", reach, seconds=86400, first_in=1, heartbeats=heartbeats, timeout=timeout
    )
    if runtime.calendar_sync is not None:
        sync = runtime.calendar_sync

        async def poll() -> None:
            await sync.sync_all()
            dispatcher.wake()

        every = settings.sync_interval_seconds
        periodic(
            scheduler, store, "calendar-sync", poll, seconds=every, first_in=2, heartbeats=heartbeats, timeout=timeout
        )
        periodic(
            scheduler,
            store,
            "graph-subscriptions",
            sync.ensure_subscriptions,
            seconds=3600,
            first_in=10,
            heartbeats=heartbeats,
            timeout=timeout,
        )

    async def anchor() -> None:
        await anchors.write()

    periodic(scheduler, store, "audit-anchor", anchor, seconds=60, first_in=1, heartbeats=heartbeats, timeout=timeout)
