"""What an agent is offered: the titular's free slots, the acting replacement's during a
long absence, and a notice when the worker is away."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from booking.absence import Absence, AbsenceLength, absence_at, merge_absences
from booking.directory import Directory
from booking.holidays import FrenchHolidays
from booking.model import Appointment, Interval, Slot, Topic, Worker, ensure_utc
from booking.plan import ExplicitDay, PermanencePlan, expand_plan
from booking.slots import free_slots


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerCalendar:
    """What the worker's calendar says: busy time, and days she added by category."""

    busy: tuple[Interval, ...] = ()
    added_days: tuple[ExplicitDay, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class AbsenceNotice:
    worker_id: str
    length: AbsenceLength
    return_at: datetime | None  # the end of the absence; None: until further notice
    acting_id: str | None  # who runs the permanence meanwhile (long absences)


@dataclass(frozen=True, kw_only=True, slots=True)
class Offer:
    titular: Worker
    slots: tuple[Slot, ...]
    notice: AbsenceNotice | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Schedules:
    """Everything slot computation reads, gathered once per request."""

    directory: Directory
    plans: Mapping[str, PermanencePlan]
    calendars: Mapping[str, WorkerCalendar]
    absences: Sequence[Absence]
    appointments: Sequence[Appointment]
    holidays: FrenchHolidays

    def plan_for(self, worker_id: str, titular_id: str) -> PermanencePlan:
        """A replacement without a plan of its own takes over the titular's permanence."""
        if worker_id in self.plans:
            return self.plans[worker_id]
        return dataclasses.replace(self.plans[titular_id], worker_id=worker_id)

    def busy_of(self, worker_id: str) -> list[Interval]:
        calendar = self.calendars.get(worker_id, WorkerCalendar())
        busy = list(calendar.busy)
        busy.extend(a.interval for a in merge_absences(a for a in self.absences if a.worker_id == worker_id))
        busy.extend(a.interval for a in self.appointments if a.worker_id == worker_id and a.status.is_active)
        return busy


def acting_replacement(absence: Absence, schedules: Schedules) -> Worker | None:
    """Who acts during a titular's absence: the named one, else the first present in the chain."""
    if absence.replacement_id is not None:
        return schedules.directory.worker(absence.replacement_id)
    for candidate in schedules.directory.replacement_chain(absence.worker_id):
        if absence_at(candidate.id, absence.start, schedules.absences) is None:
            return candidate
    return None


def _worker_slots(
    worker_id: str,
    plan: PermanencePlan,
    start: date,
    end: date,
    now: datetime,
    topic: Topic | None,
    schedules: Schedules,
    *,
    ignore_busy: bool,
) -> list[Slot]:
    calendar = schedules.calendars.get(worker_id, WorkerCalendar())
    days = expand_plan(plan, start, end, schedules.holidays, calendar.added_days).days
    busy: Iterable[Interval] = () if ignore_busy else schedules.busy_of(worker_id)
    return free_slots(plan=plan, days=days, busy=busy, now=now, topic=topic)


def offer_slots(
    *,
    now: datetime,
    site_id: str,
    topic: Topic | None,
    start: date,
    days: int,
    schedules: Schedules,
    ignore_busy: bool = False,
    titular_on: date | None = None,
) -> Offer:
    """Bookable slots for an agent of `site_id` over `days` local days from `start`.

    The titular's slots exclude her absences (so a short absence yields the first slots
    after her return); during a long absence the acting replacement's slots are offered.
    `ignore_busy` gives every slot the plans allow, to tell a taken slot from a forged one.
    `titular_on`: the day whose titular is offered (default `start`): checking one day of a
    longer offer names the titular the offer named. Each day's slots depend on that day alone,
    so any day of a longer offer gives the same slots when computed alone.
    """
    now = ensure_utc(now, "now")
    if days <= 0:
        raise ValueError("days must be positive")
    end = start + timedelta(days=days)
    titular = schedules.directory.titular_for_site(site_id, titular_on or start)
    plan = schedules.plans[titular.id]
    slots = _worker_slots(titular.id, plan, start, end, now, topic, schedules, ignore_busy=ignore_busy)

    notice: AbsenceNotice | None = None
    titular_absences = merge_absences(a for a in schedules.absences if a.worker_id == titular.id)
    for absence in titular_absences:
        length = absence.length_at(now)
        acting = acting_replacement(absence, schedules) if length is AbsenceLength.LONG else None
        if absence.covers(now):
            notice = AbsenceNotice(
                worker_id=titular.id,
                length=length,
                return_at=absence.return_at,
                acting_id=acting.id if acting else None,
            )
        if acting is None:
            continue
        local = plan.zone
        first = max(start, absence.start.astimezone(local).date())
        last = min(end, absence.end.astimezone(local).date() + timedelta(days=1))
        if first >= last:
            continue
        acting_plan = schedules.plan_for(acting.id, titular.id)
        covered = _worker_slots(acting.id, acting_plan, first, last, now, topic, schedules, ignore_busy=ignore_busy)
        slots.extend(s for s in covered if absence.start <= s.start and s.end <= absence.end)
    return Offer(titular=titular, slots=tuple(sorted(set(slots))), notice=notice)
