"""An agent's appointments: book, see, move and cancel. Every calendar write and message goes
through the outbox in the same transaction as the change it reflects."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from booking.errors import BookingRefused, RefusalReason
from booking.model import Appointment, AppointmentStatus, Mode, Topic
from booking.records import NotFound, StoredAppointment
from booking.rules import check_change, check_new_booking
from bot.application.access import own_appointment_grant
from bot.application.context import Context, once, settle
from bot.application.messages import CalendarCancel, CalendarCreate, CalendarUpdate, NotifyAgent, queue
from bot.application.offers import Offers
from bot.application.ports import UnitOfWork

LINK_DELAY = timedelta(seconds=15)


class Bookings:
    def __init__(self, context: Context, offers: Offers) -> None:
        self.context = context
        self.offers = offers

    async def book(
        self,
        *,
        now: datetime,
        agent_id: str,
        site_id: str,
        slot_key: object,
        mode: Mode,
        topic_id: str | None,
        message: str = "",
        phone: str = "",
        invite_agent: bool = False,
        key: str | None = None,
        link_notice: bool = False,
    ) -> StoredAppointment:
        """Book a slot; `key` (the form id) makes a repeated submit raise `AlreadyDone`.

        `invite_agent`: she ticked « receive an invitation in my Outlook calendar »; kept with
        the appointment, so that every write of the event (retries, moves) honours it.
        `link_notice`: the calendar creates Teams links; a Teams appointment's link is then sent
        to her once it exists (queued here, with the booking: exactly once, even if the turn
        fails after the commit; `confirmation` withdraws it when her card shows the link).
        The `phone` she gave, if any, is remembered for her next booking form."""
        context = self.context
        topic = context.topic(topic_id)
        site = context.site(site_id)
        async with self.offers.slot_taken(now, slot_key, site_id, topic_id):  # noqa: SIM117 - around the whole transaction
            async with context.store.unit_of_work() as uow:
                await once(uow, key, "book", now)
                slot, free, planned = await self.offers.validated_slot(
                    uow, now=now, slot_key=slot_key, site_id=site_id, topic=topic
                )
                check_new_booking(
                    now=now,
                    slot=slot,
                    free=free,
                    planned=planned,
                    upcoming=len(await uow.appointments.upcoming_for_agent(agent_id, now)),
                    policy=context.deployment.booking,
                    mode=mode,
                    agent_site=site,
                    topic=topic,
                )
                status = AppointmentStatus.REQUESTED if mode.needs_acceptance else AppointmentStatus.CONFIRMED
                transaction_id = str(uuid.uuid4())
                immediate = context.immediate_calendar
                event = immediate.event_at_once(transaction_id, online=mode is Mode.TEAMS) if immediate else None
                appointment = Appointment(
                    id=str(uuid.uuid4()),
                    worker_id=slot.worker_id,
                    agent_id=agent_id,
                    start=slot.start,
                    end=slot.end,
                    mode=mode,
                    kind=slot.kind,
                    status=status,
                    topic_id=topic_id,
                )
                stored = await uow.appointments.add(
                    appointment,
                    site_id=site_id,
                    topic_id=topic_id,
                    message=message.strip(),
                    now=now,
                    invite_agent=invite_agent,
                    transaction_id=transaction_id,
                    outlook_event_id=event.event_id if event else None,
                    join_url=event.join_url if event else None,
                )
                if phone.strip():
                    await uow.agents.set_phone(agent_id, phone.strip(), now)
                if event is None:  # Outlook: written by the outbox, retried until it is
                    await queue(uow.outbox, CalendarCreate(stored.id), now, aggregate_id=stored.id)
                await context.queue_reminders(uow, stored, now)
                if link_notice and mode is Mode.TEAMS and not stored.join_url:
                    await self._queue_link_notice(uow, agent_id, stored.id, now)
                if status is AppointmentStatus.REQUESTED:
                    await context.tell_worker(uow, slot.worker_id, "request", now, appointment_id=stored.id)
                await uow.audit.record(
                    actor="agent", action="appointment.book", subject_type="appointment", subject_id=stored.id, now=now
                )
                await settle(uow, key, stored.id)
                await uow.commit()
                return stored

    async def mine(self, *, now: datetime, agent_id: str) -> list[StoredAppointment]:
        async with self.context.store.unit_of_work(read_only=True) as uow:
            return await uow.appointments.upcoming_for_agent(agent_id, now)

    async def to_move(self, *, agent_id: str, appointment_id: str) -> tuple[StoredAppointment, str | None]:
        """One of her appointments and its topic, for the review of its move: shown back to her
        alone, in her own chat (like the phone that prefills her forms)."""
        async with self.context.store.unit_of_work(read_only=True) as uow:
            stored = await self._owned(uow, agent_id, appointment_id)
            grant = own_appointment_grant(agent_id, stored.id)
            return stored, (await uow.appointments.details(stored.id, grant=grant)).topic_id

    async def get(self, *, agent_id: str, appointment_id: str) -> StoredAppointment:
        """One of the agent's own appointments, as stored now (e.g. with the Teams link)."""
        async with self.context.store.unit_of_work(read_only=True) as uow:
            return await self._owned(uow, agent_id, appointment_id)

    @staticmethod
    async def _owned(uow: UnitOfWork, agent_id: str, appointment_id: object) -> StoredAppointment:
        if not isinstance(appointment_id, str) or not appointment_id:
            raise BookingRefused(RefusalReason.NOT_OWNER)
        try:
            stored = await uow.appointments.get(appointment_id)
        except NotFound as err:
            raise BookingRefused(RefusalReason.NOT_OWNER) from err
        if stored.appointment.agent_id != agent_id:
            raise BookingRefused(RefusalReason.NOT_OWNER)
        return stored

    async def cancel(
        self, *, now: datetime, agent_id: str, appointment_id: object, key: str | None = None
    ) -> StoredAppointment:
        async with self.context.store.unit_of_work() as uow:
            await once(uow, key, "cancel", now)
            stored = await self._owned(uow, agent_id, appointment_id)
            check_change(
                now=now, appointment=stored.appointment, agent_id=agent_id, policy=self.context.deployment.booking
            )
            cancelled = await uow.appointments.set_status(
                stored.id, AppointmentStatus.CANCELLED, version=stored.appointment.version, now=now, actor="agent"
            )
            if self.context.calendar_writes(stored):
                await queue(uow.outbox, CalendarCancel(stored.id), now, aggregate_id=stored.id)
            await self.context.withdraw_reminders(uow, stored.id, now)
            await self.context.refresh_cards(uow, stored.id, "cancelled", now)
            await uow.audit.record(
                actor="agent", action="appointment.cancel", subject_type="appointment", subject_id=stored.id, now=now
            )
            await settle(uow, key, stored.id)
            await uow.commit()
            return cancelled

    async def reschedule(
        self,
        *,
        now: datetime,
        agent_id: str,
        appointment_id: object,
        slot_key: object,
        site_id: str,
        key: str | None = None,
        link_notice: bool = False,
    ) -> StoredAppointment:
        """Move to a new slot in one transaction: the old one is freed only if the new one is secured.
        `link_notice`: as for `book`, when the appointment has no Teams link yet."""
        context = self.context
        kinds: list[str] = []
        async with self.offers.slot_taken(now, slot_key, site_id, None, kinds):  # noqa: SIM117 - around the whole transaction
            async with context.store.unit_of_work() as uow:
                await once(uow, key, "move", now)
                stored = await self._owned(uow, agent_id, appointment_id)
                current = stored.appointment
                kinds.append(current.kind.value)  # read by the « slot taken » alternatives
                check_change(now=now, appointment=current, agent_id=agent_id, policy=context.deployment.booking)
                same_kind = Topic(id="", label="", day_kinds=frozenset({current.kind}))
                slot, free, planned = await self.offers.validated_slot(
                    uow, now=now, slot_key=slot_key, site_id=site_id, topic=same_kind
                )
                if slot.worker_id != current.worker_id:
                    raise BookingRefused(RefusalReason.SLOT_NOT_OFFERED)
                check_new_booking(
                    now=now,
                    slot=slot,
                    free=free,
                    planned=planned,
                    upcoming=0,
                    policy=context.deployment.booking,
                    mode=current.mode,
                    agent_site=context.site(stored.site_id),
                    topic=same_kind,
                )
                moved = await uow.appointments.move(
                    stored.id, slot.interval, version=current.version, now=now, actor="agent"
                )
                if context.calendar_writes(stored):
                    await queue(uow.outbox, CalendarUpdate(stored.id), now, aggregate_id=stored.id)
                await context.refresh_cards(uow, stored.id, "moved", now)
                await context.queue_reminders(uow, moved, now)
                if link_notice and current.mode is Mode.TEAMS and not moved.join_url:
                    await self._queue_link_notice(uow, agent_id, stored.id, now)
                await uow.audit.record(
                    actor="agent", action="appointment.move", subject_type="appointment", subject_id=stored.id, now=now
                )
                await settle(uow, key, stored.id)
                await uow.commit()
                return moved

    async def confirmation(self, *, agent_id: str, appointment_id: str, now: datetime) -> StoredAppointment:
        """The just booked (or moved) Teams appointment as stored now, for her confirmation card:
        the calendar may have added its Teams link meanwhile. If so, the card shows it and the
        link notice queued with the booking is withdrawn (she is not sent the link twice)."""
        async with self.context.store.unit_of_work() as uow:
            stored = await self._owned(uow, agent_id, appointment_id)
            if stored.join_url:
                await uow.outbox.withdraw("notify.agent", stored.id, "link", now)
                await uow.commit()
            return stored

    async def queue_link_notice(self, *, agent_id: str, appointment_id: str, now: datetime) -> None:
        """Send the Teams link once the calendar has created it (retried until it exists)."""
        async with self.context.store.unit_of_work() as uow:
            await self._queue_link_notice(uow, agent_id, appointment_id, now)
            await uow.commit()

    @staticmethod
    async def _queue_link_notice(uow: UnitOfWork, agent_id: str, appointment_id: str, now: datetime) -> None:
        await queue(
            uow.outbox,
            NotifyAgent(agent_id, "link", {"appointment_id": appointment_id}),
            now,
            aggregate_id=appointment_id,
            not_before=now + LINK_DELAY,
        )
