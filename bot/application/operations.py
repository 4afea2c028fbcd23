"""What operators do to the running service: look at the outbox, retry or drop its rows, and
see which booked appointments a new plan would leave outside its days."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from booking.document import Deployment
from booking.holidays import FrenchHolidays
from booking.plan import PermanencePlan
from booking.plan_change import days_added_in_calendar, orphaned_appointments
from booking.records import OutboxEntry, OutboxHealth
from bot.application.ports import UnitsOfWork

PLAN_CHANGE_HORIZON = timedelta(days=731)


async def outbox_entries(store: UnitsOfWork, now: datetime, *, state: str, limit: int) -> list[OutboxEntry]:
    async with store.unit_of_work(read_only=True) as uow:
        return await uow.outbox.entries(now, state=state, limit=limit)


async def outbox_health(store: UnitsOfWork, now: datetime) -> OutboxHealth:
    async with store.unit_of_work(read_only=True) as uow:
        return await uow.outbox.health(now)


async def outbox_retry(store: UnitsOfWork, now: datetime, row_id: int | None, *, actor: str = "admin") -> int:
    """Make one row (or, with None, every dead row) due again now; returns how many."""
    async with store.unit_of_work() as uow:
        if row_id is None:
            count = await uow.outbox.retry_dead(now)
        else:
            await uow.outbox.retry_now(row_id, now)
            count = 1
        subject = str(row_id) if row_id is not None else "dead"
        await uow.audit.record(actor=actor, action="outbox.retry", subject_type="outbox", subject_id=subject, now=now)
        await uow.commit()
    return count


async def outbox_drop(store: UnitsOfWork, now: datetime, row_id: int, *, force: bool, actor: str = "admin") -> None:
    async with store.unit_of_work() as uow:
        await uow.outbox.drop(row_id, now, force=force)
        await uow.audit.record(
            actor=actor, action="outbox.drop", subject_type="outbox", subject_id=str(row_id), now=now
        )
        await uow.commit()


async def orphaned_by(store: UnitsOfWork, deployment: Deployment, now: datetime, zone: ZoneInfo) -> list[str]:
    """References of the upcoming appointments that `deployment`'s plan would no longer hold."""
    titulars = {z.worker_id for z in deployment.directory.zones}

    def plan_for(worker_id: str) -> PermanencePlan | None:
        if worker_id in deployment.plans:
            return deployment.plans[worker_id]
        # A replacement without a plan of her own takes over a titular's permanence.
        for titular in sorted(titulars):
            if worker_id in deployment.directory.replacements.get(titular, ()):
                return dataclasses.replace(deployment.plans[titular], worker_id=worker_id)
        return None

    end = now + PLAN_CHANGE_HORIZON
    async with store.unit_of_work(read_only=True) as uow:
        worker_ids = await uow.workers.ids()
        stored = [s for w in worker_ids for s in await uow.appointments.for_worker(w, now, end)]
        added = days_added_in_calendar(await uow.calendar.between(worker_ids, now, end), zone)
    orphans = {
        a.id
        for a in orphaned_appointments(
            [s.appointment for s in stored], plan_for, FrenchHolidays(deployment.subdivision), added
        )
    }
    return [s.reference for s in sorted(stored, key=lambda s: s.appointment.start) if s.appointment.id in orphans]
