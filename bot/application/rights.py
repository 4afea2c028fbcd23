"""The person's own rights (GDPR art. 15 and 17): what the service keeps about an agent and until
when, and the erasure of what retention does not require.

What is kept, and why:
- an upcoming appointment (requested or confirmed) holds a slot and must be honoured: she
  cancels it first; an urgent request still open must let someone call her back. While either
  exists, her name, phone, address and conversation stay with it.
- the audit trail is kept by law for its own period; it holds ids and actions, never her name
  nor what she wrote.
- the year's aggregate counts: an erased appointment or request stays as an anonymous row
  (its date, site, mode and topic, attached to nobody), so that the reports do not change.
Everything else goes: her message and the notes of past or cancelled appointments, the situation
and phone of urgent requests already taken, the link between her and them, the notifications
about them, and her profile once nothing needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from booking.model import AppointmentStatus, Mode
from booking.records import AgentRecord, NotFound, StoredAppointment, UrgentRequest
from bot.application.access import AccessPolicy, own_grant
from bot.application.context import Context, once, settle
from bot.application.shown_cards import shown_cards_key


@dataclass(frozen=True, kw_only=True, slots=True)
class KeptAppointment:
    id: str
    reference: str
    start: datetime
    mode: Mode
    status: AppointmentStatus
    site_id: str
    topic_id: str | None
    message: str
    kept_until: datetime  # deleted by the retention purge after this
    erasable: bool  # False: upcoming, she cancels it first


@dataclass(frozen=True, kw_only=True, slots=True)
class KeptRequest:
    id: str
    reference: str
    received_at: datetime
    status: str
    handler_id: str | None  # None while open: nobody could be reached, she was given the hotline
    danger: bool  # she declared she was in danger
    description: str
    phone: str
    availability: str
    kept_until: datetime
    erasable: bool  # False: still open, someone must call her back


@dataclass(frozen=True, kw_only=True, slots=True)
class PersonalData:
    agent: AgentRecord
    appointments: tuple[KeptAppointment, ...]
    urgent: tuple[KeptRequest, ...]
    profile_kept_until: datetime
    audit_days: int

    @property
    def profile_erasable(self) -> bool:
        """Her profile goes once no upcoming appointment nor open request needs it."""
        return all(a.erasable for a in self.appointments) and all(r.erasable for r in self.urgent)

    @property
    def erasable(self) -> bool:
        return (
            self.profile_erasable or any(a.erasable for a in self.appointments) or any(r.erasable for r in self.urgent)
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Erasure:
    appointments: int  # detached from her, message and notes emptied
    urgent: int
    profile: bool  # her profile (name, Entra id, e-mail, phone, site, conversation) deleted
    kept_appointments: int
    kept_urgent: int


def conversation_state_key(reference: dict[str, Any] | None) -> str | None:
    """The key the Teams adapter keeps a conversation's state under (botbuilder's
    ConversationState: "<channel>/conversations/<conversation id>")."""
    if not reference:
        return None
    channel = reference.get("channelId")
    conversation = (reference.get("conversation") or {}).get("id")
    return f"{channel}/conversations/{conversation}" if channel and conversation else None


def _appointment_kept(stored: StoredAppointment, now: datetime) -> bool:
    return stored.appointment.status.is_active and stored.appointment.end > now


def _request_kept(request: UrgentRequest) -> bool:
    return request.status == "open"


class Rights:
    def __init__(self, context: Context, access: AccessPolicy) -> None:
        self.context = context
        self.access = access

    async def personal_data(
        self, *, now: datetime, agent_id: str, requester: str = "agent", operator: str | None = None
    ) -> PersonalData:
        """What is kept about her, each with the date the retention purge removes it; audited
        (a self-read through the access policy). Raises `NotFound` for an unknown agent."""
        periods = self.context.retention
        async with self.context.store.unit_of_work() as uow:
            own = await self.access.read_own(uow, agent_id, now, requester=requester, operator=operator)
            await uow.commit()
        appointments = tuple(
            KeptAppointment(
                id=stored.id,
                reference=stored.reference,
                start=stored.appointment.start,
                mode=stored.appointment.mode,
                status=stored.appointment.status,
                site_id=stored.site_id,
                topic_id=details.topic_id,
                message=details.message,
                kept_until=stored.appointment.end + periods.records,
                erasable=not _appointment_kept(stored, now),
            )
            for stored, details in own.appointments
        )
        urgent = tuple(
            KeptRequest(
                id=request.id,
                reference=request.reference,
                received_at=request.received_at,
                status=request.status,
                handler_id=request.handler_id,
                danger=details.danger,
                description=details.description,
                phone=details.phone,
                availability=details.availability,
                kept_until=request.received_at + periods.records,
                erasable=not _request_kept(request),
            )
            for request, details in own.urgent
        )
        # The purge removes an agent unseen for the retention period once nothing of hers is left.
        last = max(
            [
                own.agent.updated_at,
                *(s.appointment.end for s, _ in own.appointments),
                *(r.received_at for r, _ in own.urgent),
            ]
        )
        return PersonalData(
            agent=own.agent,
            appointments=appointments,
            urgent=urgent,
            profile_kept_until=last + periods.records,
            audit_days=periods.audit.days,
        )

    async def erase(
        self,
        *,
        now: datetime,
        agent_id: str,
        key: str | None = None,
        requester: str = "agent",
        operator: str | None = None,
        forget_conversation: bool = False,
    ) -> Erasure:
        """Erase what retention does not require, in one transaction, audited. `key` (the form
        id) makes a repeated submit raise `AlreadyDone`; run again later, it erases what became
        erasable since (nothing else changes). `forget_conversation`: also delete her
        conversation state (the chat clears it itself, in the turn that asked).
        Raises `NotFound` for an unknown agent."""
        async with self.context.store.unit_of_work() as uow:
            await once(uow, key, "erase", now)
            await uow.agents.record(agent_id, grant=own_grant(agent_id))  # NotFound: nobody to erase
            appointments = await uow.appointments.of_agent(agent_id)
            requests = await uow.urgent.of_agent(agent_id)
            gone = [a for a in appointments if not _appointment_kept(a, now)]
            gone_requests = [r for r in requests if not _request_kept(r)]
            for stored in gone:
                await uow.appointments.detach(stored.id, await uow.agents.anonymous(now), now)
            for request in gone_requests:
                await uow.urgent.detach(request.id, await uow.agents.anonymous(now))
            await uow.outbox.drop_notifications([a.id for a in gone] + [r.id for r in gone_requests])
            profile = len(gone) == len(appointments) and len(gone_requests) == len(requests)
            if profile:
                state_key = conversation_state_key(await uow.agents.conversation(agent_id, grant=own_grant(agent_id)))
                if forget_conversation and state_key:
                    await uow.state.delete([state_key])
                await uow.state.delete([shown_cards_key(agent_id)])  # which of her messages showed what
                await uow.agents.erase(agent_id)
            await uow.audit.record(
                actor=requester,
                action="agent.erase",
                subject_type="agent",
                subject_id=agent_id,
                now=now,
                operator=operator,
            )
            await settle(uow, key, agent_id)
            await uow.commit()
        return Erasure(
            appointments=len(gone),
            urgent=len(gone_requests),
            profile=profile,
            kept_appointments=len(appointments) - len(gone),
            kept_urgent=len(requests) - len(gone_requests),
        )

    async def find(self, object_id: str) -> str:
        """The agent known by this Entra object id (the data protection officer's requests)."""
        async with self.context.store.unit_of_work(read_only=True) as uow:
            agent_id = await uow.agents.find(object_id)
        if agent_id is None:
            raise NotFound
        return agent_id
