"""The one rule of who may read or act on confidential data, and the audit of each read.

Who booked and why (and an urgent request's situation and phone) are readable only by the
worker the case belongs to and, while she is away, by the replacement acting for her; an urgent
request reaches a replacement only once it is routed to her (the titular is absent, or the
request was escalated to her). Every decryption of who or why goes through `AccessPolicy`,
which writes the audit entry as it grants the read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from booking.absence import absence_at
from booking.model import Worker
from booking.records import AppointmentDetails, StoredAppointment, UrgentRequest
from bot.application.context import AccessDenied, Context
from bot.application.ports import UnitOfWork


@dataclass(frozen=True, kw_only=True, slots=True)
class UrgentDetails:
    """An urgent request as its handler reads it."""

    agent_name: str
    description: str
    phone: str
    availability: str


def actor(worker: Worker) -> str:
    return f"worker:{worker.id}"


class AccessPolicy:
    def __init__(self, context: Context) -> None:
        self.context = context

    async def acting_for(self, uow: UnitOfWork, worker: Worker, now: datetime) -> list[str]:
        """Whose cases `worker` may read now: her own; a titular's while she is away and
        `worker` is in her replacement chain; a predecessor's after a permanent replacement."""
        directory = self.context.directory
        readable = [worker.id]
        absences = await uow.absences.overlapping(now - timedelta(days=400), now + timedelta(days=1))
        for titular_id in directory.acts_for(worker.id):
            if absence_at(titular_id, now, absences) is not None:
                readable.append(titular_id)
        for change in directory.permanent:
            if change.successor_id == worker.id and change.effective <= self.context.local_date(now):
                readable.append(change.predecessor_id)
        return readable

    async def may_handle_appointment(
        self, uow: UnitOfWork, worker: Worker, stored: StoredAppointment, now: datetime
    ) -> bool:
        return stored.appointment.worker_id in await self.acting_for(uow, worker, now)

    async def may_handle_urgent(self, uow: UnitOfWork, worker: Worker, request: UrgentRequest, now: datetime) -> bool:
        """Routed to her: one of the steps reached so far is hers, or belongs to someone she acts for."""
        reached = {handler for handler, _ in request.route[: request.step + 1] if handler}
        return bool(reached & set(await self.acting_for(uow, worker, now)))

    async def read_appointment(
        self, uow: UnitOfWork, worker: Worker, stored: StoredAppointment, now: datetime
    ) -> AppointmentDetails:
        """Who and why of one appointment, audited; refused if the rule says no."""
        if not await self.may_handle_appointment(uow, worker, stored, now):
            raise AccessDenied
        details = await uow.appointments.details(stored.id)
        await uow.audit.record(
            actor=actor(worker), action="appointment.read", subject_type="appointment", subject_id=stored.id, now=now
        )
        return details

    async def read_urgent(
        self, uow: UnitOfWork, worker: Worker, request: UrgentRequest, now: datetime
    ) -> UrgentDetails:
        if not await self.may_handle_urgent(uow, worker, request, now):
            raise AccessDenied
        description, phone, availability = await uow.urgent.details(request.id)
        name = await uow.agents.name(request.agent_id)
        await uow.audit.record(
            actor=actor(worker), action="urgent.read", subject_type="urgent", subject_id=request.id, now=now
        )
        return UrgentDetails(agent_name=name, description=description, phone=phone, availability=availability)
