"""What every use case shares: the deployment (plan, directory, policies), its time zone and
holidays, the units of work, and the few steps several use cases take (reading schedules,
queueing proactive messages and reminders)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking.absence import Absence, AbsenceSource
from booking.availability import Schedules, WorkerCalendar
from booking.directory import Directory
from booking.document import Deployment
from booking.errors import BookingRefused, RefusalReason
from booking.holidays import FrenchHolidays
from booking.model import DayKind, Site, Topic, Worker
from booking.plan import DayHours, ExplicitDay
from booking.records import RetentionPeriods, StoredAppointment
from bot.application.messages import NotifyAgent, NotifyCards, NotifyWorker, queue
from bot.application.ports import UnitOfWork, UnitsOfWork
from graph.provider import ImmediateCalendar

LOOKBACK = timedelta(days=400)  # absences that may still cover "now"


class AccessDenied(Exception):
    """The caller may not see or do this (carries no identifier)."""


class AlreadyDone(Exception):
    """The action's idempotency key was used already: `ref` names what that action made or
    changed (empty if unknown). Nothing was changed this time."""

    def __init__(self, ref: str) -> None:
        super().__init__("already done")
        self.ref = ref


async def once(uow: UnitOfWork, key: str | None, kind: str, now: datetime) -> None:
    """Reserve the action's idempotency key in this transaction, or raise `AlreadyDone`."""
    if key is not None:
        ref = await uow.idempotency.claim(key, kind, now)
        if ref is not None:
            raise AlreadyDone(ref)


async def settle(uow: UnitOfWork, key: str | None, ref: str) -> None:
    if key is not None:
        await uow.idempotency.settle(key, ref)


@dataclass(kw_only=True)
class Context:
    store: UnitsOfWork
    deployment: Deployment
    reminders: Sequence[tuple[str, timedelta]] = ()  # (name, how long before the start)
    urgent_ack_after: timedelta = timedelta(minutes=15)  # Teams reached but not taken: the e-mail too
    retention: RetentionPeriods = field(default_factory=RetentionPeriods)
    # The embedded calendar: events named in the booking's transaction, no outbox round.
    immediate_calendar: ImmediateCalendar | None = None
    # The calendar provider can send the neutral urgent e-mail (not the embedded calendar).
    urgent_mail: bool = True
    holidays: FrenchHolidays = field(init=False)
    zone: ZoneInfo = field(init=False)

    def __post_init__(self) -> None:
        self.holidays = FrenchHolidays(self.deployment.subdivision)
        self.zone = ZoneInfo(next(iter(self.deployment.plans.values())).timezone)

    def replace_deployment(self, deployment: Deployment) -> None:
        """A new plan for every use case from now on (`permanence plan reload`, SIGHUP)."""
        self.deployment = deployment
        self.__post_init__()

    @property
    def directory(self) -> Directory:
        return self.deployment.directory

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone)

    def worker_for_object_id(self, object_id: str) -> Worker | None:
        if not object_id:
            return None
        return next((w for w in self.directory.workers if w.object_id == object_id), None)

    def site(self, site_id: str) -> Site:
        try:
            return self.directory.site(site_id)
        except KeyError as err:
            raise BookingRefused(RefusalReason.UNKNOWN) from err

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

    def workers_for_site(self, site_id: str) -> set[str]:
        """Every worker an offer for the site may read the calendar of: the titulars of its
        zones, whoever succeeds them, and their replacement chains."""
        directory = self.directory
        found = {z.worker_id for z in directory.zones if site_id in z.site_ids}
        while True:
            more = {c.successor_id for c in directory.permanent if c.predecessor_id in found}
            more |= {r for w in found for r in directory.replacements.get(w, ())}
            if more <= found:
                return found
            found |= more

    async def absences(
        self, uow: UnitOfWork, now: datetime, until: datetime | None = None, *, worker_ids: Sequence[str] | None = None
    ) -> list[Absence]:
        """Declared and Outlook absences that may matter at `now` (and up to `until`)."""
        if worker_ids is None:
            worker_ids = [w.id for w in self.directory.workers]
        end = (until or now) + LOOKBACK
        out_of_office = [
            Absence(worker_id=e.worker_id, start=e.interval.start, end=e.interval.end, source=AbsenceSource.OOF_EVENT)
            for e in await uow.calendar.between(worker_ids, now - LOOKBACK, end, category="oof")
        ]
        return [*await uow.absences.overlapping(now - LOOKBACK, end), *out_of_office]

    async def schedules(
        self, uow: UnitOfWork, now: datetime, start: date, end: date, *, site_id: str | None = None
    ) -> Schedules:
        """What slot computation reads; with `site_id`, only the calendars and appointments of
        the workers an offer for that site may involve (at scale, a small part of them)."""
        first = self.local_midnight(start)
        last = self.local_midnight(end) + timedelta(days=1)
        worker_ids = [w.id for w in self.directory.workers]
        if site_id is not None:
            named = self.workers_for_site(site_id)
            worker_ids = [w for w in worker_ids if w in named]
        absences = await self.absences(uow, min(first, now), last)
        if site_id is not None:  # a replacement named on an absence acts for it: read hers too
            named = set(worker_ids) | {a.replacement_id for a in absences if a.replacement_id and a.worker_id in named}
            worker_ids = [w.id for w in self.directory.workers if w.id in named]
        entries = await uow.calendar.between(worker_ids, first, last)
        day_kinds = {k.value for k in DayKind}
        calendars: dict[str, WorkerCalendar] = {}
        for worker_id in worker_ids:
            mine = [e for e in entries if e.worker_id == worker_id]
            calendars[worker_id] = WorkerCalendar(
                busy=tuple(e.interval for e in mine if e.category == "busy"),
                added_days=tuple(
                    ExplicitDay(
                        date=self.local_date(e.interval.start),
                        kind=DayKind(e.category),
                        hours=DayHours(
                            start=e.interval.start.astimezone(self.zone).time(),
                            end=e.interval.end.astimezone(self.zone).time(),
                        ),
                    )
                    for e in mine
                    if e.category in day_kinds
                ),
            )
        return Schedules(
            directory=self.directory,
            plans=self.deployment.plans,
            calendars=calendars,
            absences=tuple(absences),
            appointments=tuple(await uow.appointments.active_between(worker_ids, first, last)),
            holidays=self.holidays,
        )

    def calendar_writes(self, stored: StoredAppointment) -> bool:
        """Whether a change of `stored` must reach its calendar through the outbox: always for
        Outlook; for the embedded calendar, whose named event is the appointment's row, only an
        appointment booked before events were named at once (its pending write names it)."""
        return self.immediate_calendar is None or not stored.outlook_event_id

    # -- proactive work, always through the outbox in the caller's transaction -------------------

    @staticmethod
    async def tell_worker(uow: UnitOfWork, worker_id: str | None, what: str, now: datetime, **ids: str) -> None:
        """A proactive message to a worker (None: the hotline, nobody to tell)."""
        await queue(uow.outbox, NotifyWorker(worker_id, what, ids), now, aggregate_id=next(iter(ids.values())))

    @staticmethod
    async def tell_agent(uow: UnitOfWork, agent_id: str, what: str, now: datetime, **ids: str) -> None:
        await queue(uow.outbox, NotifyAgent(agent_id, what, ids), now, aggregate_id=next(iter(ids.values())))

    @staticmethod
    async def refresh_cards(uow: UnitOfWork, appointment_id: str, change: str, now: datetime) -> None:
        """The cards that showed this appointment with actions are to be updated in place
        (`change`: one of `bot.application.shown_cards.CHANGES`)."""
        await queue(uow.outbox, NotifyCards(appointment_id, change), now, aggregate_id=appointment_id)

    @staticmethod
    async def withdraw_reminders(uow: UnitOfWork, appointment_id: str, now: datetime) -> None:
        """The appointment was cancelled, declined or moved: its pending reminders go at once
        (`permanence outbox list` no longer shows them as scheduled). One being delivered right
        now is dropped by the notifier, which checks the appointment again."""
        await uow.outbox.withdraw(NotifyAgent.kind, appointment_id, "reminder", now)

    async def queue_reminders(self, uow: UnitOfWork, stored: StoredAppointment, now: datetime) -> None:
        """Reminders are outbox rows due at their time: they survive restarts. Those of the
        appointment's earlier time, if it moved, are withdrawn first."""
        await self.withdraw_reminders(uow, stored.id, now)
        start = stored.appointment.start
        for name, before in self.reminders:
            if start - before > now:
                await queue(
                    uow.outbox,
                    NotifyAgent(
                        stored.appointment.agent_id,
                        "reminder",
                        {"before": name, "appointment_id": stored.id, "start": start.isoformat()},
                    ),
                    now,
                    aggregate_id=stored.id,
                    not_before=start - before,
                )
