"""What a new plan would do to the appointments already booked: which ones it would orphan."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from booking.holidays import FrenchHolidays
from booking.model import Appointment, DayKind, Interval
from booking.plan import DayHours, ExplicitDay, PermanencePlan, expand_plan
from booking.records import CalendarEntry


def days_added_in_calendar(entries: Iterable[CalendarEntry], zone: ZoneInfo) -> dict[str, tuple[ExplicitDay, ...]]:
    """Days the workers opened in their calendar (by category), per worker: they are not in the plan file."""
    kinds = {k.value for k in DayKind}
    added: dict[str, list[ExplicitDay]] = {}
    for entry in entries:
        if entry.category in kinds:
            added.setdefault(entry.worker_id, []).append(
                ExplicitDay(
                    date=entry.interval.start.astimezone(zone).date(),
                    kind=DayKind(entry.category),
                    hours=DayHours(
                        start=entry.interval.start.astimezone(zone).time(),
                        end=entry.interval.end.astimezone(zone).time(),
                    ),
                )
            )
    return {worker: tuple(days) for worker, days in added.items()}


def orphaned_appointments(
    appointments: Iterable[Appointment],
    plan_for: Callable[[str], PermanencePlan | None],
    holidays: FrenchHolidays,
    added_days: Mapping[str, Sequence[ExplicitDay]] | None = None,
) -> list[Appointment]:
    """Active appointments that the plan no longer has room for: their day is gone (closed, removed,
    a holiday) or their time no longer fits inside the day's bookable hours (hours or breaks changed).

    A change of slot length alone orphans nothing: the worker still holds the appointments
    already given. `plan_for` gives the plan that applies to a worker (None: she has none any
    more); `added_days` are the days opened in the workers' calendars, which keep theirs.
    Urgent appointments are arranged outside the plan and are never orphaned.
    """
    added = added_days or {}
    windows: dict[tuple[str, date], list[Interval]] = {}
    orphans: list[Appointment] = []
    for appointment in sorted(appointments, key=lambda a: (a.start, a.id)):
        if not appointment.status.is_active or appointment.urgent:
            continue
        plan = plan_for(appointment.worker_id)
        if plan is None:
            orphans.append(appointment)
            continue
        day = appointment.start.astimezone(plan.zone).date()
        key = (appointment.worker_id, day)
        if key not in windows:
            calendar = expand_plan(plan, day, day + timedelta(days=1), holidays, added.get(appointment.worker_id, ()))
            windows[key] = [w for d in calendar.days for w in d.bookable_intervals()]
        if not any(w.start <= appointment.start and appointment.end <= w.end for w in windows[key]):
            orphans.append(appointment)
    return orphans
