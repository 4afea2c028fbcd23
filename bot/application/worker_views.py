"""The worker's views: her agenda and the requests waiting for her decision, with who and why
(each appointment shown is one audited read), and the decision itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from booking.errors import BookingRefused, RefusalReason
from booking.model import AppointmentStatus, Worker
from booking.records import AppointmentDetails, NotFound, StoredAppointment
from bot.application.access import AccessPolicy, actor
from bot.application.context import AccessDenied, Context, once, settle
from bot.application.messages import CalendarCancel, queue

REQUESTS_AHEAD = 366  # days of pending requests shown


@dataclass(frozen=True, kw_only=True, slots=True)
class AgendaItem:
    appointment: StoredAppointment
    details: AppointmentDetails


class WorkerViews:
    def __init__(self, context: Context, access: AccessPolicy) -> None:
        self.context = context
        self.access = access

    async def _items(
        self, *, now: datetime, worker: Worker, start: date, days: int, status: AppointmentStatus | None = None
    ) -> list[AgendaItem]:
        first = self.context.local_midnight(start)
        last = first + timedelta(days=days)
        items: list[AgendaItem] = []
        async with self.context.store.unit_of_work() as uow:
            for worker_id in await self.access.acting_for(uow, worker, now):
                for stored in await uow.appointments.for_worker(worker_id, first, last):
                    shown = stored.appointment.status.is_active and status in (None, stored.appointment.status)
                    if shown:
                        details = await self.access.read_appointment(uow, worker, stored, now)
                        items.append(AgendaItem(appointment=stored, details=details))
            await uow.commit()
        return sorted(items, key=lambda i: i.appointment.appointment.start)

    async def agenda(self, *, now: datetime, worker: Worker, start: date, days: int) -> list[AgendaItem]:
        """Active appointments of the period, with who and why."""
        return await self._items(now=now, worker=worker, start=start, days=days)

    async def pending_requests(self, *, now: datetime, worker: Worker) -> list[AgendaItem]:
        """Requests (a meeting at the agent's site, a home visit) awaiting her decision;
        only those are read and audited."""
        return await self._items(
            now=now,
            worker=worker,
            start=self.context.local_date(now),
            days=REQUESTS_AHEAD,
            status=AppointmentStatus.REQUESTED,
        )

    async def decide_request(
        self, *, now: datetime, worker: Worker, appointment_id: object, accept: bool, key: str | None = None
    ) -> StoredAppointment:
        async with self.context.store.unit_of_work() as uow:
            await once(uow, key, "decide", now)
            if not isinstance(appointment_id, str):
                raise AccessDenied
            try:
                stored = await uow.appointments.get(appointment_id)
            except NotFound as err:
                raise AccessDenied from err
            if not await self.access.may_handle_appointment(uow, worker, stored, now):
                raise AccessDenied
            if stored.appointment.status is not AppointmentStatus.REQUESTED:
                raise BookingRefused(RefusalReason.NOT_ACTIVE)
            status = AppointmentStatus.CONFIRMED if accept else AppointmentStatus.DECLINED
            decided = await uow.appointments.set_status(
                stored.id, status, version=stored.appointment.version, now=now, actor="worker"
            )
            if not accept and self.context.calendar_writes(stored):
                await queue(uow.outbox, CalendarCancel(stored.id), now, aggregate_id=stored.id)
            if not accept:
                await self.context.withdraw_reminders(uow, stored.id, now)
            await self.context.tell_agent(
                uow, stored.appointment.agent_id, "accepted" if accept else "declined", now, appointment_id=stored.id
            )
            await self.context.refresh_cards(uow, stored.id, "accepted" if accept else "declined", now)
            await uow.audit.record(
                actor=actor(worker),
                action="appointment.accept" if accept else "appointment.decline",
                subject_type="appointment",
                subject_id=stored.id,
                now=now,
            )
            await settle(uow, key, stored.id)
            await uow.commit()
            return decided
