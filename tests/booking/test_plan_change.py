"""Which booked appointments a new plan would orphan."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking.document import Deployment
from booking.model import Appointment, AppointmentStatus, DayKind, Interval, Mode
from booking.plan import ClosedDay, DayHours, PermanencePlan, TimeWindow, WeeklyDay
from booking.plan_change import days_added_in_calendar, orphaned_appointments
from booking.records import CalendarEntry

PARIS = ZoneInfo("Europe/Paris")


def at(day: date, hour: int, minute: int = 0, minutes: int = 45, **changes: object) -> Appointment:
    start = datetime.combine(day, time(hour, minute), tzinfo=PARIS).astimezone(UTC)
    values: dict[str, object] = {
        "id": f"a-{day}-{hour}{minute}",
        "worker_id": "ass",
        "agent_id": "agent",
        "start": start,
        "end": start + timedelta(minutes=minutes),
        "mode": Mode.TEAMS,
        "kind": DayKind.PERMANENCE,
        "status": AppointmentStatus.CONFIRMED,
    }
    values.update(changes)
    return Appointment(**values)  # type: ignore[arg-type]


THURSDAY = date(2027, 3, 4)
FRIDAY = date(2027, 3, 5)  # the first Friday of March: a retirement Friday


def plans(plan: PermanencePlan):  # type: ignore[no-untyped-def]
    return lambda worker_id: plan if worker_id == "ass" else None


def test_the_same_plan_orphans_nothing(deployment: Deployment, holidays):
    plan = deployment.plans["ass"]
    booked = [at(THURSDAY, 9), at(THURSDAY, 10), at(THURSDAY, 15, 30), at(FRIDAY, 9, kind=DayKind.RETIREMENT)]
    assert orphaned_appointments(booked, plans(plan), holidays) == []


def test_a_closed_day_new_hours_or_a_new_slot_length_orphan_what_they_remove(deployment: Deployment, holidays):
    plan = deployment.plans["ass"]
    nine, ten, four = at(THURSDAY, 9), at(THURSDAY, 10), at(THURSDAY, 15, 30)
    closed = dataclasses.replace(plan, closed_days=(ClosedDay(date=THURSDAY, reason="congés"),))
    assert orphaned_appointments([nine, ten], plans(closed), holidays) == [nine, ten]
    mornings = dataclasses.replace(
        plan,
        weekly=(WeeklyDay(weekday=3, kind=DayKind.PERMANENCE, hours=DayHours(start=time(9), end=time(12))),),
    )
    assert orphaned_appointments([nine, ten, four], plans(mornings), holidays) == [four]
    longer_break = dataclasses.replace(
        plan,
        weekly=(
            WeeklyDay(
                weekday=3,
                kind=DayKind.PERMANENCE,
                hours=DayHours(start=time(9), end=time(17), breaks=(TimeWindow(start=time(10), end=time(13, 30)),)),
            ),
        ),
    )
    assert orphaned_appointments([nine, ten, four], plans(longer_break), holidays) == [ten]
    # A new slot length alone: the appointments given still fit in the day's hours.
    hourly = dataclasses.replace(plan, slot_length=timedelta(minutes=60), buffer=timedelta(0))
    assert orphaned_appointments([nine, ten, four], plans(hourly), holidays) == []


def test_cancelled_and_urgent_appointments_are_never_orphans_and_a_worker_without_plan_orphans_all(
    deployment: Deployment, holidays
):
    plan = deployment.plans["ass"]
    closed = dataclasses.replace(plan, closed_days=(ClosedDay(date=THURSDAY, reason=""),))
    cancelled = at(THURSDAY, 9, status=AppointmentStatus.CANCELLED)
    urgent = at(THURSDAY, 11, minute=7, urgent=True)
    other = at(THURSDAY, 9, worker_id="ancienne")
    assert orphaned_appointments([cancelled, urgent, other], plans(closed), holidays) == [other]


def test_a_day_opened_in_the_calendar_keeps_its_appointments(deployment: Deployment, holidays):
    plan = deployment.plans["ass"]
    wednesday = date(2027, 3, 3)
    booked = at(wednesday, 14, kind=DayKind.EXTRA)
    assert orphaned_appointments([booked], plans(plan), holidays) == [booked]
    entry = CalendarEntry(
        id="e1",
        worker_id="ass",
        interval=Interval(
            start=datetime.combine(wednesday, time(14), tzinfo=PARIS),
            end=datetime.combine(wednesday, time(17), tzinfo=PARIS),
        ),
        category="extra",
        external_id=None,
    )
    busy = dataclasses.replace(entry, id="e2", category="busy")
    added = days_added_in_calendar([entry, busy], PARIS)
    assert [d.date for d in added["ass"]] == [wednesday]
    assert orphaned_appointments([booked], plans(plan), holidays, added) == []
