"""The one orchestrator doing I/O around the pure domain: offers, bookings, changes,
urgent requests and the worker's views. Every write to the calendar or to a person goes
through the outbox in the same transaction as the change it reflects."""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking.absence import Absence, AbsenceSource, absence_at
from booking.availability import Offer, Schedules, WorkerCalendar, offer_slots
from booking.document import Deployment
from booking.errors import BookingRefused, RefusalReason
from booking.holidays import FrenchHolidays
from booking.model import Appointment, AppointmentStatus, DayKind, Interval, Mode, Site, Slot, Topic, Worker
from booking.plan import DayHours, ExplicitDay
from booking.records import AppointmentDetails, Conflict, NotFound, StoredAppointment, UrgentRequest
from booking.rules import check_change, check_new_booking
from booking.slots import alternatives
from booking.urgency import triage
from graph.provider import CalendarChange, ChangeKind, SyncResult
from storage.store import Store
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

SLOT_KEY = re.compile(r"^(?P<worker>[a-z0-9_-]{1,64})@(?P<start>\d{8}T\d{4}Z)$")
LOOKBACK = timedelta(days=400)  # absences that may still cover "now"


class AccessDenied(Exception):
    """The caller may not see or do this (carries no identifier)."""


def parse_slot_key(key: object) -> tuple[str, datetime]:
    """Parse a slot key from a card; anything malformed is a forged card."""
    if not isinstance(key, str) or (match := SLOT_KEY.match(key)) is None:
        raise BookingRefused(RefusalReason.SLOT_NOT_OFFERED)
    try:
        start = datetime.strptime(match["start"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError as err:
        raise BookingRefused(RefusalReason.SLOT_NOT_OFFERED) from err
    return match["worker"], start


@dataclass(frozen=True, kw_only=True, slots=True)
class AgendaItem:
    appointment: StoredAppointment
    details: AppointmentDetails


@dataclass(frozen=True, kw_only=True, slots=True)
class UrgentFiled:
    request: UrgentRequest
    handler: Worker | None  # None: the provider's hotline
    deadline: datetime | None


class BookingService:
    def __init__(
        self, store: Store, deployment: Deployment, *, reminders: Sequence[tuple[str, timedelta]] = ()
    ) -> None:
        self.store = store
        self.reminders = tuple(reminders)  # (name, how long before the start)
        self.deployment = deployment
        self.directory = deployment.directory
        self.holidays = FrenchHolidays(deployment.subdivision)
        self.zone = ZoneInfo(next(iter(deployment.plans.values())).timezone)

    # -- identities -------------------------------------------------------------------------

    def worker_for_object_id(self, object_id: str) -> Worker | None:
        if not object_id:
            return None
        return next((w for w in self.directory.workers if w.object_id == object_id), None)

    def topic(self, topic_id: str | None, kinds: Sequence[str] | None = None) -> Topic | None:
        """The agent's topic; `kinds` instead names the kinds of day directly (a move keeps
        the kind of day of the appointment it moves)."""
        if kinds:
            try:
                return Topic(id="", label="", day_kinds=frozenset(DayKind(k) for k in kinds))
            except ValueError as err:
                raise BookingRefused(RefusalReason.TOPIC_NOT_ALLOWED) from err
        if not topic_id:
            return None
        try:
            return self.directory.topic(topic_id)
        except KeyError as err:
            raise BookingRefused(RefusalReason.TOPIC_NOT_ALLOWED) from err

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    # -- reading the calendar ---------------------------------------------------------------

    async def _schedules(self, uow: UnitOfWork, now: datetime, start: date, end: date) -> Schedules:
        first = datetime.combine(start, time(0), tzinfo=self.zone)
        last = datetime.combine(end, time(0), tzinfo=self.zone) + timedelta(days=1)
        worker_ids = [w.id for w in self.directory.workers]
        entries = await uow.calendar.between(worker_ids, first, last)
        calendars: dict[str, WorkerCalendar] = {}
        for worker_id in worker_ids:
            busy = tuple(e.interval for e in entries if e.worker_id == worker_id and e.category == "busy")
            added = tuple(
                ExplicitDay(
                    date=self.local_date(e.interval.start),
                    kind=DayKind(e.category),
                    hours=DayHours(
                        start=e.interval.start.astimezone(self.zone).time(),
                        end=e.interval.end.astimezone(self.zone).time(),
                    ),
                )
                for e in entries
                if e.worker_id == worker_id and e.category in {k.value for k in DayKind}
            )
            calendars[worker_id] = WorkerCalendar(busy=busy, added_days=added)
        out_of_office = [
            Absence(worker_id=e.worker_id, start=e.interval.start, end=e.interval.end, source=AbsenceSource.OOF_EVENT)
            for e in await uow.calendar.between(worker_ids, min(first, now - LOOKBACK), last + LOOKBACK)
            if e.category == "oof"
        ]
        return Schedules(
            directory=self.directory,
            plans=self.deployment.plans,
            calendars=calendars,
            absences=(*await uow.absences.overlapping(min(first, now - LOOKBACK), last + LOOKBACK), *out_of_office),
            appointments=tuple(await uow.appointments.active_between(worker_ids, first, last)),
            holidays=self.holidays,
        )

    async def offer(
        self,
        *,
        now: datetime,
        site_id: str,
        topic_id: str | None,
        start: date | None = None,
        days: int = 14,
        kinds: Sequence[str] | None = None,
    ) -> Offer:
        topic = self.topic(topic_id, kinds)
        start = start or self.local_date(now)
        async with self.store.unit_of_work(read_only=True) as uow:
            schedules = await self._schedules(uow, now, start, start + timedelta(days=days))
        return offer_slots(now=now, site_id=site_id, topic=topic, start=start, days=days, schedules=schedules)

    async def first_offer(
        self,
        *,
        now: datetime,
        site_id: str,
        topic_id: str | None,
        start: date | None = None,
        days: int = 14,
        kinds: Sequence[str] | None = None,
    ) -> Offer:
        """The first period with free slots, looking up to the booking horizon."""
        start = start or self.local_date(now)
        horizon = max(p.horizon for p in self.deployment.plans.values())
        offer = await self.offer(now=now, site_id=site_id, topic_id=topic_id, start=start, days=days, kinds=kinds)
        while not offer.slots and datetime.combine(start, time(0), tzinfo=self.zone) < now + horizon:
            start += timedelta(days=days)
            later = await self.offer(now=now, site_id=site_id, topic_id=topic_id, start=start, days=days, kinds=kinds)
            offer = dataclasses.replace(later, notice=offer.notice or later.notice)
        return offer

    # -- agents -----------------------------------------------------------------------------

    async def _validated_slot(
        self, uow: UnitOfWork, *, now: datetime, slot_key: object, site_id: str, topic: Topic | None
    ) -> tuple[Slot, list[Slot], list[Slot]]:
        worker_id, start = parse_slot_key(slot_key)
        day = self.local_date(start)
        schedules = await self._schedules(uow, now, day - timedelta(days=14), day + timedelta(days=15))
        around = {"now": now, "site_id": site_id, "topic": topic, "schedules": schedules}
        free = list(offer_slots(start=day - timedelta(days=14), days=29, **around).slots)  # type: ignore[arg-type]
        planned = list(offer_slots(start=day, days=1, ignore_busy=True, **around).slots)  # type: ignore[arg-type]
        slot = next((s for s in [*free, *planned] if s.worker_id == worker_id and s.start == start), None)
        if slot is None:
            # Maybe valid for another topic (e.g. a retirement Friday with a housing topic).
            every_kind = Topic(id="", label="", day_kinds=frozenset(DayKind))
            every_kind = Topic(id="", label="", day_kinds=frozenset(DayKind))
            anytopic = offer_slots(
                start=day, days=1, ignore_busy=True, now=now, site_id=site_id, topic=every_kind, schedules=schedules
            ).slots
            if any(s.worker_id == worker_id and s.start == start for s in anytopic):
                raise BookingRefused(RefusalReason.TOPIC_NOT_ALLOWED)
            raise BookingRefused(RefusalReason.SLOT_NOT_OFFERED)
        return slot, free, planned

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
    ) -> StoredAppointment:
        topic = self.topic(topic_id)
        site = self._site(site_id)
        try:
            async with self.store.unit_of_work() as uow:
                slot, free, planned = await self._validated_slot(
                    uow, now=now, slot_key=slot_key, site_id=site_id, topic=topic
                )
                upcoming = len(await uow.appointments.upcoming_for_agent(agent_id, now))
                check_new_booking(
                    now=now,
                    slot=slot,
                    free=free,
                    planned=planned,
                    upcoming=upcoming,
                    policy=self.deployment.booking,
                    mode=mode,
                    agent_site=site,
                    topic=topic,
                )
                status = AppointmentStatus.REQUESTED if mode.needs_acceptance else AppointmentStatus.CONFIRMED
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
                try:
                    stored = await uow.appointments.add(
                        appointment, site_id=site_id, topic_id=topic_id, message=message.strip(), now=now
                    )
                except Conflict as err:
                    raise BookingRefused(RefusalReason.SLOT_TAKEN) from err
                await uow.outbox.add("calendar.create", {"appointment_id": stored.id}, now, aggregate_id=stored.id)
                await self._queue_reminders(uow, stored, now)
                if status is AppointmentStatus.REQUESTED:
                    await self._tell_worker(uow, slot.worker_id, "request", now, appointment_id=stored.id)
                await uow.audit.record(
                    actor="agent", action="appointment.book", subject_type="appointment", subject_id=stored.id, now=now
                )
                await uow.commit()
                return stored
        except Conflict as err:  # the database's guard, at commit
            raise await self._taken_with_alternatives(now, slot_key, site_id, topic_id) from err
        except BookingRefused as refused:
            if refused.reason is RefusalReason.SLOT_TAKEN and not refused.alternatives:
                raise await self._taken_with_alternatives(now, slot_key, site_id, topic_id) from refused
            raise

    @staticmethod
    async def _tell_worker(uow: UnitOfWork, worker_id: str | None, what: str, now: datetime, **ids: str) -> None:
        """A proactive message to a worker, sent by the outbox (None: the hotline, nobody to tell)."""
        await uow.outbox.add(
            "notify.worker", {"worker_id": worker_id, "what": what, **ids}, now, aggregate_id=next(iter(ids.values()))
        )

    @staticmethod
    async def _tell_agent(uow: UnitOfWork, agent_id: str, what: str, now: datetime, **ids: str) -> None:
        """A proactive message to an agent, sent by the outbox."""
        await uow.outbox.add(
            "notify.agent", {"agent_id": agent_id, "what": what, **ids}, now, aggregate_id=next(iter(ids.values()))
        )

    async def _queue_reminders(self, uow: UnitOfWork, stored: StoredAppointment, now: datetime) -> None:
        """Reminders are outbox rows due at their time: they survive restarts, and a reminder
        whose appointment moved or was cancelled meanwhile is dropped when it comes due."""
        start = stored.appointment.start
        for name, before in self.reminders:
            if start - before > now:
                await uow.outbox.add(
                    "notify.agent",
                    {
                        "agent_id": stored.appointment.agent_id,
                        "what": "reminder",
                        "before": name,
                        "appointment_id": stored.id,
                        "start": start.isoformat(),
                    },
                    now,
                    aggregate_id=stored.id,
                    not_before=start - before,
                )

    async def queue_link_notice(self, stored: StoredAppointment, now: datetime) -> None:
        """Send the Teams link once the calendar has created it (retried until it exists)."""
        async with self.store.unit_of_work() as uow:
            await uow.outbox.add(
                "notify.agent",
                {"agent_id": stored.appointment.agent_id, "what": "link", "appointment_id": stored.id},
                now,
                aggregate_id=stored.id,
                not_before=now + timedelta(seconds=15),
            )
            await uow.commit()

    async def _taken_with_alternatives(
        self, now: datetime, slot_key: object, site_id: str, topic_id: str | None
    ) -> BookingRefused:
        _, start = parse_slot_key(slot_key)
        offer = await self.offer(
            now=now, site_id=site_id, topic_id=topic_id, start=self.local_date(start) - timedelta(days=7), days=28
        )
        return BookingRefused(RefusalReason.SLOT_TAKEN, alternatives(start, offer.slots))

    def _site(self, site_id: str) -> Site:
        try:
            return self.directory.site(site_id)
        except KeyError as err:
            raise BookingRefused(RefusalReason.UNKNOWN) from err

    async def my_appointments(self, *, now: datetime, agent_id: str) -> list[StoredAppointment]:
        async with self.store.unit_of_work(read_only=True) as uow:
            return await uow.appointments.upcoming_for_agent(agent_id, now)

    async def _owned(self, uow: UnitOfWork, agent_id: str, appointment_id: object) -> StoredAppointment:
        if not isinstance(appointment_id, str) or not appointment_id:
            raise BookingRefused(RefusalReason.NOT_OWNER)
        try:
            stored = await uow.appointments.get(appointment_id)
        except NotFound as err:
            raise BookingRefused(RefusalReason.NOT_OWNER) from err
        if stored.appointment.agent_id != agent_id:
            raise BookingRefused(RefusalReason.NOT_OWNER)
        return stored

    async def cancel(self, *, now: datetime, agent_id: str, appointment_id: object) -> StoredAppointment:
        async with self.store.unit_of_work() as uow:
            stored = await self._owned(uow, agent_id, appointment_id)
            check_change(now=now, appointment=stored.appointment, agent_id=agent_id, policy=self.deployment.booking)
            cancelled = await uow.appointments.set_status(
                stored.id, AppointmentStatus.CANCELLED, version=stored.appointment.version, now=now, actor="agent"
            )
            await uow.outbox.add("calendar.cancel", {"appointment_id": stored.id}, now, aggregate_id=stored.id)
            await uow.audit.record(
                actor="agent", action="appointment.cancel", subject_type="appointment", subject_id=stored.id, now=now
            )
            await uow.commit()
            return cancelled

    async def reschedule(
        self, *, now: datetime, agent_id: str, appointment_id: object, slot_key: object, site_id: str
    ) -> StoredAppointment:
        """Move to a new slot in one transaction: the old one is freed only if the new one is secured."""
        try:
            async with self.store.unit_of_work() as uow:
                stored = await self._owned(uow, agent_id, appointment_id)
                current = stored.appointment
                check_change(now=now, appointment=current, agent_id=agent_id, policy=self.deployment.booking)
                same_kind = Topic(id="", label="", day_kinds=frozenset({current.kind}))
                slot, free, planned = await self._validated_slot(
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
                    policy=self.deployment.booking,
                    mode=current.mode,
                    agent_site=self._site(stored.site_id),
                    topic=same_kind,
                )
                try:
                    moved = await uow.appointments.move(
                        stored.id, slot.interval, version=current.version, now=now, actor="agent"
                    )
                except Conflict as err:
                    raise BookingRefused(RefusalReason.SLOT_TAKEN) from err
                await uow.outbox.add("calendar.update", {"appointment_id": stored.id}, now, aggregate_id=stored.id)
                await self._queue_reminders(uow, moved, now)
                await uow.audit.record(
                    actor="agent", action="appointment.move", subject_type="appointment", subject_id=stored.id, now=now
                )
                await uow.commit()
                return moved
        except Conflict as err:  # the database's guard, at commit
            raise await self._taken_with_alternatives(now, slot_key, site_id, None) from err
        except BookingRefused as refused:
            if refused.reason is RefusalReason.SLOT_TAKEN and not refused.alternatives:
                raise await self._taken_with_alternatives(now, slot_key, site_id, None) from refused
            raise

    async def file_urgent(
        self, *, now: datetime, agent_id: str, site_id: str, description: str, phone: str, availability: str
    ) -> UrgentFiled:
        self._site(site_id)
        async with self.store.unit_of_work() as uow:
            absences = await uow.absences.overlapping(now - LOOKBACK, now + timedelta(days=1))
            route = triage(
                now=now,
                site_id=site_id,
                directory=self.directory,
                absences=absences,
                policy=self.deployment.urgent,
                holidays=self.holidays,
            )
            request = await uow.urgent.add(
                agent_id=agent_id,
                site_id=site_id,
                route=[(s.worker_id, s.deadline) for s in route.steps],
                description=description.strip(),
                phone=phone.strip(),
                availability=availability.strip(),
                now=now,
            )
            first = route.first
            await self._tell_worker(uow, first.worker_id, "urgent", now, urgent_id=request.id)
            await uow.audit.record(
                actor="agent", action="urgent.file", subject_type="urgent", subject_id=request.id, now=now
            )
            await uow.commit()
        handler = self.directory.worker(first.worker_id) if first.worker_id else None
        return UrgentFiled(request=request, handler=handler, deadline=first.deadline)

    # -- workers ----------------------------------------------------------------------------

    async def acting_for(self, uow: UnitOfWork, worker: Worker, now: datetime) -> list[str]:
        """Whose confidential data `worker` may read now: her own, and a titular's while she
        is away and `worker` is in her replacement chain."""
        readable = [worker.id]
        absences = await uow.absences.overlapping(now - LOOKBACK, now + timedelta(days=1))
        for titular_id in self.directory.acts_for(worker.id):
            if absence_at(titular_id, now, absences) is not None:
                readable.append(titular_id)
        for change in self.directory.permanent:
            if change.successor_id == worker.id and change.effective <= self.local_date(now):
                readable.append(change.predecessor_id)
        return readable

    async def agenda(self, *, now: datetime, worker: Worker, start: date, days: int) -> list[AgendaItem]:
        """Appointments with who and why decrypted; every read is audited."""
        first = datetime.combine(start, time(0), tzinfo=self.zone)
        last = first + timedelta(days=days)
        items: list[AgendaItem] = []
        async with self.store.unit_of_work() as uow:
            for worker_id in await self.acting_for(uow, worker, now):
                for stored in await uow.appointments.for_worker(worker_id, first, last):
                    if not stored.appointment.status.is_active:
                        continue
                    details = await uow.appointments.details(stored.id, uow.agents)
                    await uow.audit.record(
                        actor=f"worker:{worker.id}",
                        action="appointment.read",
                        subject_type="appointment",
                        subject_id=stored.id,
                        now=now,
                    )
                    items.append(AgendaItem(appointment=stored, details=details))
            await uow.commit()
        return sorted(items, key=lambda i: i.appointment.appointment.start)

    async def pending_requests(self, *, now: datetime, worker: Worker) -> list[AgendaItem]:
        items = await self.agenda(now=now, worker=worker, start=self.local_date(now), days=366)
        return [i for i in items if i.appointment.appointment.status is AppointmentStatus.REQUESTED]

    async def decide_request(
        self, *, now: datetime, worker: Worker, appointment_id: object, accept: bool
    ) -> StoredAppointment:
        async with self.store.unit_of_work() as uow:
            if not isinstance(appointment_id, str):
                raise AccessDenied
            try:
                stored = await uow.appointments.get(appointment_id)
            except NotFound as err:
                raise AccessDenied from err
            if stored.appointment.worker_id not in await self.acting_for(uow, worker, now):
                raise AccessDenied
            if stored.appointment.status is not AppointmentStatus.REQUESTED:
                raise BookingRefused(RefusalReason.NOT_ACTIVE)
            status = AppointmentStatus.CONFIRMED if accept else AppointmentStatus.DECLINED
            decided = await uow.appointments.set_status(
                stored.id, status, version=stored.appointment.version, now=now, actor="worker"
            )
            if not accept:
                await uow.outbox.add("calendar.cancel", {"appointment_id": stored.id}, now, aggregate_id=stored.id)
            await self._tell_agent(
                uow, stored.appointment.agent_id, "accepted" if accept else "declined", now, appointment_id=stored.id
            )
            await uow.audit.record(
                actor=f"worker:{worker.id}",
                action="appointment.accept" if accept else "appointment.decline",
                subject_type="appointment",
                subject_id=stored.id,
                now=now,
            )
            await uow.commit()
            return decided

    async def open_urgent(self, *, now: datetime, worker: Worker) -> list[tuple[UrgentRequest, tuple[str, str, str]]]:
        result = []
        async with self.store.unit_of_work() as uow:
            readable = await self.acting_for(uow, worker, now)
            for request in await uow.urgent.open_requests():
                chain = [w for w, _ in request.route if w]
                if worker.id in chain or any(r in chain for r in readable):
                    await uow.audit.record(
                        actor=f"worker:{worker.id}",
                        action="urgent.read",
                        subject_type="urgent",
                        subject_id=request.id,
                        now=now,
                    )
                    result.append((request, await uow.urgent.details(request.id)))
            await uow.commit()
        return result

    async def acknowledge_urgent(self, *, now: datetime, worker: Worker, request_id: object) -> UrgentRequest:
        async with self.store.unit_of_work() as uow:
            if not isinstance(request_id, str):
                raise AccessDenied
            try:
                request = await uow.urgent.get(request_id)
            except NotFound as err:
                raise AccessDenied from err
            if worker.id not in [w for w, _ in request.route if w]:
                raise AccessDenied
            acknowledged = await uow.urgent.acknowledge(request.id, worker.id, now)
            await self._tell_agent(
                uow, request.agent_id, "urgent_taken", now, urgent_id=request.id, worker_id=worker.id
            )
            await uow.audit.record(
                actor=f"worker:{worker.id}",
                action="urgent.acknowledge",
                subject_type="urgent",
                subject_id=request.id,
                now=now,
            )
            await uow.commit()
            return acknowledged

    async def escalate_due(self, now: datetime) -> int:
        """Move unacknowledged urgent requests to the next step whose turn it is."""
        moved = 0
        async with self.store.unit_of_work() as uow:
            for request in await uow.urgent.open_requests():
                step = request.step
                while (
                    step < len(request.route) - 1
                    and (deadline := request.route[step][1]) is not None
                    and now >= deadline
                ):
                    step += 1
                if step != request.step:
                    handler = request.route[step][0]
                    await uow.urgent.escalate(request.id, step, handler, version=request.version)
                    await self._tell_worker(uow, handler, "urgent", now, urgent_id=request.id)
                    await uow.audit.record(
                        actor="system", action="urgent.escalate", subject_type="urgent", subject_id=request.id, now=now
                    )
                    moved += 1
            await uow.commit()
        return moved

    async def declare_absence(
        self, *, now: datetime, worker: Worker, start: date, end: date, replacement_id: str | None
    ) -> Absence:
        """An absence from the first day to the last day included (local dates)."""
        if end < start:
            raise ValueError("the absence ends before it starts")
        if end < self.local_date(now):
            raise ValueError("the absence is over already")
        if replacement_id is not None and replacement_id not in [
            w.id for w in self.directory.replacement_chain(worker.id)
        ]:
            raise AccessDenied
        absence = Absence(
            worker_id=worker.id,
            start=datetime.combine(start, time(0), tzinfo=self.zone),
            end=datetime.combine(end + timedelta(days=1), time(0), tzinfo=self.zone),
            source=AbsenceSource.DECLARED,
            replacement_id=replacement_id,
        )
        async with self.store.unit_of_work() as uow:
            absence_id = await uow.absences.add(absence, now)
            await uow.audit.record(
                actor=f"worker:{worker.id}",
                action="absence.declare",
                subject_type="absence",
                subject_id=absence_id,
                now=now,
            )
            await uow.commit()
        return absence

    async def block_time(self, *, now: datetime, worker: Worker, interval: Interval) -> str:
        async with self.store.unit_of_work() as uow:
            entry_id = await uow.calendar.put(worker_id=worker.id, interval=interval, category="busy", now=now)
            await uow.audit.record(
                actor=f"worker:{worker.id}",
                action="calendar.block",
                subject_type="calendar",
                subject_id=entry_id,
                now=now,
            )
            await uow.commit()
        return entry_id

    async def add_day(self, *, now: datetime, worker: Worker, day: date, kind: DayKind, hours: DayHours) -> str:
        interval = Interval(
            start=datetime.combine(day, hours.start, tzinfo=self.zone),
            end=datetime.combine(day, hours.end, tzinfo=self.zone),
        )
        async with self.store.unit_of_work() as uow:
            entry_id = await uow.calendar.put(worker_id=worker.id, interval=interval, category=kind.value, now=now)
            await uow.audit.record(
                actor=f"worker:{worker.id}",
                action="calendar.add_day",
                subject_type="calendar",
                subject_id=entry_id,
                now=now,
            )
            await uow.commit()
        return entry_id

    async def apply_calendar(self, worker_id: str, result: SyncResult, now: datetime) -> dict[str, int]:
        """Apply what the worker's calendar says, in one transaction. Her own changes to the
        events we wrote move or cancel the appointment and tell the agent."""
        counts = {"moved": 0, "cancelled": 0, "entries": 0, "removed": 0}
        async with self.store.unit_of_work() as uow:
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
            await self._tell_agent(uow, appointment.agent_id, "worker_cancelled", now, appointment_id=stored.id)
            await uow.audit.record(
                actor="outlook", action="appointment.cancel", subject_type="appointment", subject_id=stored.id, now=now
            )
            return "cancelled"
        if change.interval is None or change.interval == appointment.interval:
            return "entries"
        try:
            async with uow.session.begin_nested():
                moved = await uow.appointments.move(
                    stored.id, change.interval, version=appointment.version, now=now, actor="outlook"
                )
        except Conflict:
            log.warning(
                "an appointment moved in Outlook overlaps another one: left as it was",
                extra={"event": "calendar.conflict"},
            )
            return "entries"
        await self._tell_agent(uow, appointment.agent_id, "worker_moved", now, appointment_id=stored.id)
        await self._queue_reminders(uow, moved, now)
        await uow.audit.record(
            actor="outlook", action="appointment.move", subject_type="appointment", subject_id=stored.id, now=now
        )
        return "moved"

    async def sync_workers(self) -> None:
        async with self.store.unit_of_work() as uow:
            await uow.workers.sync(self.directory.workers)
            await uow.commit()


def workers_by_id(workers: Sequence[Worker]) -> dict[str, Worker]:
    return {w.id: w for w in workers}
