"""The one rule of who may read or act on confidential data, and the audit of each read.

Who booked and why (and an urgent request's situation and phone) are readable only by the
worker the case belongs to and, while she is away, by the replacement acting for her; an urgent
request reaches a replacement only once it is routed to her (the titular is absent, or the
request was escalated to her). Every decryption of who or why goes through this module,
which writes the audit entry as it grants the read: the repositories decrypt nothing without a
grant (`booking.grants`), and grants are issued here alone.

- a worker's read of a case: `AccessPolicy.read_appointment` / `read_urgent`, one audit entry
  per row shown, a grant naming that row and its agent;
- an administrative command (`keys rotate`, `dossiers export|import`) or a report:
  `operator_grant` / `report_grant`, audited with the operator (system user and host);
- the agent's own data shown back to her (`own_grant`) and the address the outbox delivers
  her messages to (`delivery_grant`): nobody else reads anything, so no audit entry; each grant
  names her agent id only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from booking.absence import absence_at
from booking.grants import Grant, Purpose, issue_grant
from booking.model import Worker
from booking.records import AgentRecord, AppointmentDetails, StoredAppointment, UrgentRequest
from bot.application.context import AccessDenied, Context
from bot.application.ports import UnitOfWork


@dataclass(frozen=True, kw_only=True, slots=True)
class UrgentDetails:
    """An urgent request as its handler reads it."""

    agent_name: str
    description: str
    phone: str
    availability: str
    danger: bool = False  # she declared she is in danger now: the most urgent


@dataclass(frozen=True, kw_only=True, slots=True)
class OwnData:
    """Everything kept about one agent, decrypted for her own request (GDPR art. 15)."""

    agent: AgentRecord
    appointments: tuple[tuple[StoredAppointment, AppointmentDetails], ...]
    urgent: tuple[tuple[UrgentRequest, UrgentDetails], ...]


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
        await uow.audit.record(
            actor=actor(worker), action="appointment.read", subject_type="appointment", subject_id=stored.id, now=now
        )
        grant = issue_grant(Purpose.CASE, appointments=[stored.id], agents=[stored.appointment.agent_id])
        return await uow.appointments.details(stored.id, grant=grant)

    async def read_urgent(
        self, uow: UnitOfWork, worker: Worker, request: UrgentRequest, now: datetime
    ) -> UrgentDetails:
        if not await self.may_handle_urgent(uow, worker, request, now):
            raise AccessDenied
        await uow.audit.record(
            actor=actor(worker), action="urgent.read", subject_type="urgent", subject_id=request.id, now=now
        )
        grant = issue_grant(Purpose.CASE, urgent=[request.id], agents=[request.agent_id])
        description, phone, availability = await uow.urgent.details(request.id, grant=grant)
        name = await uow.agents.name(request.agent_id, grant=grant)
        danger = await uow.urgent.danger(request.id, grant=grant)
        return UrgentDetails(
            agent_name=name, description=description, phone=phone, availability=availability, danger=danger
        )

    async def read_own(
        self, uow: UnitOfWork, agent_id: str, now: datetime, *, requester: str = "agent", operator: str | None = None
    ) -> OwnData:
        """A self-read: the agent herself (in her own chat), or the data protection officer acting
        on her request (`requester="admin"`, with the operator), reads what is kept about her
        alone; one audit entry names the agent read, never what was in it, written before the
        grant that covers exactly her rows."""
        appointments_of = await uow.appointments.of_agent(agent_id)
        urgent_of = await uow.urgent.of_agent(agent_id)
        await uow.audit.record(
            actor=requester,
            action="agent.data_read",
            subject_type="agent",
            subject_id=agent_id,
            now=now,
            operator=operator,
        )
        grant = issue_grant(
            Purpose.OWN,
            agents=[agent_id],
            appointments=[stored.id for stored in appointments_of],
            urgent=[request.id for request in urgent_of],
        )
        record = await uow.agents.record(agent_id, grant=grant)
        appointments = [(stored, await uow.appointments.details(stored.id, grant=grant)) for stored in appointments_of]
        urgent = []
        for request in urgent_of:
            description, phone, availability = await uow.urgent.details(request.id, grant=grant)
            urgent.append(
                (
                    request,
                    UrgentDetails(
                        agent_name=record.name,
                        description=description,
                        phone=phone,
                        availability=availability,
                        danger=await uow.urgent.danger(request.id, grant=grant),
                    ),
                )
            )
        return OwnData(agent=record, appointments=tuple(appointments), urgent=tuple(urgent))


def own_grant(agent_id: str) -> Grant:
    """The agent's own data (her phone, to prefill a form), shown back to her only."""
    return issue_grant(Purpose.OWN, agents=[agent_id])


def own_urgent_grant(agent_id: str, request_id: str) -> Grant:
    """The agent's own urgent request, to add a repeat of it (never shown to anyone else)."""
    return issue_grant(Purpose.OWN, agents=[agent_id], urgent=[request_id])


def own_appointment_grant(agent_id: str, appointment_id: str) -> Grant:
    """One of the agent's own appointments (its topic, on the review of its move), shown back to
    her only, in her own chat."""
    return issue_grant(Purpose.OWN, appointments=[appointment_id], agents=[agent_id])


def delivery_grant(agent_id: str) -> Grant:
    """Where to reach the agent (her conversation, her e-mail for an invitation): used by the
    outbox to deliver her own messages, never shown to anyone."""
    return issue_grant(Purpose.DELIVERY, agents=[agent_id])


async def operator_grant(
    uow: UnitOfWork,
    *,
    action: str,
    subject_type: str,
    subject_id: str,
    now: datetime,
    operator: str | None,
    actor: str = "admin",
) -> Grant:
    """An administrative command that decrypts (or rewrites) every row: audited with the
    operator in `uow` (committed with the work, or on its own before it), then granted."""
    await uow.audit.record(
        actor=actor, action=action, subject_type=subject_type, subject_id=subject_id, now=now, operator=operator
    )
    return issue_grant(Purpose.OPERATOR, everything=True)


async def report_grant(uow: UnitOfWork, *, period: str, now: datetime, actor: str, operator: str | None) -> Grant:
    """The topics of every appointment of a period, decrypted to be counted only; audited."""
    await uow.audit.record(
        actor=actor, action="report.generate", subject_type="report", subject_id=period, now=now, operator=operator
    )
    return issue_grant(Purpose.REPORT, everything=True)
