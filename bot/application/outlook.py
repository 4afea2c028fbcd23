"""Applying what a worker's Outlook calendar says: busy time, added days, out-of-office, and her
own moves and cancellations of the events we wrote, which reach the agent."""

from __future__ import annotations

import logging
from datetime import datetime

from booking.absence import AbsenceSource
from booking.model import AppointmentStatus
from booking.records import Conflict, StoredAppointment
from bot.application.context import Context
from bot.application.ports import UnitOfWork
from graph.provider import CalendarChange, ChangeKind, SyncResult

log = logging.getLogger(__name__)


class OutlookChanges:
    def __init__(self, context: Context) -> None:
        self.context = context

    async def apply(self, worker_id: str, result: SyncResult, now: datetime) -> dict[str, int]:
        """Apply one sync result in one transaction; returns counts of what changed."""
        counts = {"moved": 0, "cancelled": 0, "entries": 0, "removed": 0}
        async with self.context.store.unit_of_work() as uow:
            seen: set[str] = set()
            for change in result.changes:
                stored = await uow.appointments.by_outlook_event(change.event_id) if change.event_id else None
                if stored is None and change.transaction_id:
                    stored = await uow.appointments.by_transaction(change.transaction_id)
                if stored is not None:
                    counts[await self._apply_to_appointment(uow, stored, change, now)] += 1
                    continue
                category = None
                if change.kind is ChangeKind.UPSERT and not change.cancelled and change.interval is not None:
                    if change.day_kind is not None:
                        category = change.day_kind.value
                    elif change.out_of_office:
                        category = "oof"
                    elif change.busy:
                        category = "busy"
                if category is None or change.interval is None:
                    await uow.calendar.remove_external(worker_id, change.event_id)
                    counts["removed"] += 1
                    continue
                seen.add(change.event_id)
                await uow.calendar.put(
                    worker_id=worker_id,
                    interval=change.interval,
                    category=category,
                    now=now,
                    external_id=change.event_id,
                )
                counts["entries"] += 1
            if result.full:
                counts["removed"] += await uow.calendar.prune_external(worker_id, seen)
            if result.absences is not None:
                await uow.absences.replace_from_source(worker_id, AbsenceSource.AUTOMATIC_REPLIES, result.absences, now)
            await uow.commit()
        return counts

    async def _apply_to_appointment(
        self, uow: UnitOfWork, stored: StoredAppointment, change: CalendarChange, now: datetime
    ) -> str:
        appointment = stored.appointment
        if not appointment.status.is_active:
            return "entries"
        if change.kind is ChangeKind.REMOVED or change.cancelled:
            await uow.appointments.set_status(
                stored.id, AppointmentStatus.CANCELLED, version=appointment.version, now=now, actor="outlook"
            )
            await self.context.withdraw_reminders(uow, stored.id, now)
            await self.context.tell_agent(uow, appointment.agent_id, "worker_cancelled", now, appointment_id=stored.id)
            await self.context.refresh_cards(uow, stored.id, "outlook_cancelled", now)
            await uow.audit.record(
                actor="outlook", action="appointment.cancel", subject_type="appointment", subject_id=stored.id, now=now
            )
            return "cancelled"
        if change.interval is None or change.interval == appointment.interval:
            return "entries"
        try:
            async with uow.savepoint():
                moved = await uow.appointments.move(
                    stored.id, change.interval, version=appointment.version, now=now, actor="outlook"
                )
        except Conflict:
            log.warning(
                "an appointment moved in Outlook overlaps another one: left as it was",
                extra={"event": "calendar.conflict"},
            )
            return "entries"
        await self.context.tell_agent(uow, appointment.agent_id, "worker_moved", now, appointment_id=stored.id)
        await self.context.refresh_cards(uow, stored.id, "outlook_moved", now)
        await self.context.queue_reminders(uow, moved, now)
        await uow.audit.record(
            actor="outlook", action="appointment.move", subject_type="appointment", subject_id=stored.id, now=now
        )
        return "moved"
