"""Urgent requests: who must call back, by when (in working hours), and who is next."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking.absence import Absence, absence_at
from booking.directory import Directory
from booking.holidays import FrenchHolidays
from booking.model import ensure_utc
from booking.plan import PARIS


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkingHours:
    weekdays: frozenset[int] = frozenset(range(5))  # Monday to Friday
    start: time = time(9, 0)
    end: time = time(17, 0)
    timezone: str = PARIS

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("working hours must end after they start")
        if not self.weekdays or not self.weekdays <= frozenset(range(7)):
            raise ValueError("working weekdays must be among 0 (Monday) to 6")


def add_working_time(start: datetime, duration: timedelta, hours: WorkingHours, holidays: FrenchHolidays) -> datetime:
    """`start` plus `duration` counted in working hours only (weekends and holidays skipped)."""
    if duration < timedelta(0):
        raise ValueError("duration cannot be negative")
    zone = ZoneInfo(hours.timezone)
    cursor = ensure_utc(start, "start").astimezone(zone)
    remaining = duration
    for _ in range(3660):  # ten years of days: a bound, never reached with sane settings
        day = cursor.date()
        if day.weekday() in hours.weekdays and day not in holidays:
            opening = datetime.combine(day, hours.start, tzinfo=zone)
            closing = datetime.combine(day, hours.end, tzinfo=zone)
            cursor = max(cursor, opening)
            if cursor < closing:
                available = closing - cursor
                if remaining <= available:
                    return ensure_utc(cursor + remaining)
                remaining -= available
        cursor = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    raise ValueError("no working time found: check the working hours settings")


@dataclass(frozen=True, kw_only=True, slots=True)
class UrgentPolicy:
    response_time: timedelta = timedelta(hours=4)  # in working hours
    # « Je suis en danger maintenant »: as soon as her working hours allow.
    danger_response_time: timedelta = timedelta(hours=1)
    working_hours: WorkingHours = WorkingHours()
    hotline_name: str = ""
    hotline_phone: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class EscalationStep:
    worker_id: str | None  # None: the provider's hotline, the end of the chain
    deadline: datetime | None  # acknowledge before this, or the next step takes over


@dataclass(frozen=True, kw_only=True, slots=True)
class UrgentRoute:
    received_at: datetime
    steps: tuple[EscalationStep, ...]

    @property
    def first(self) -> EscalationStep:
        return self.steps[0]

    def step_at(self, now: datetime) -> EscalationStep:
        """Who is responsible at `now` if nobody has acknowledged yet."""
        now = ensure_utc(now, "now")
        for step in self.steps:
            if step.deadline is None or now < step.deadline:
                return step
        return self.steps[-1]


def triage(
    *,
    now: datetime,
    site_id: str,
    directory: Directory,
    absences: Sequence[Absence],
    policy: UrgentPolicy,
    holidays: FrenchHolidays,
    danger: bool = False,
) -> UrgentRoute:
    """Route an urgent request: the titular when present, else replacements by priority
    (those absent now are skipped), each with a deadline; the hotline closes the chain.
    `danger` (she is in danger now): each deadline is the shorter `danger_response_time`."""
    now = ensure_utc(now, "now")
    local_day = now.astimezone(ZoneInfo(policy.working_hours.timezone)).date()
    titular = directory.titular_for_site(site_id, local_day)
    candidates = [titular, *directory.replacement_chain(titular.id)]
    present = [w for w in candidates if absence_at(w.id, now, absences) is None]
    steps: list[EscalationStep] = []
    deadline = now
    for worker in present:
        response = policy.danger_response_time if danger else policy.response_time
        deadline = add_working_time(deadline, response, policy.working_hours, holidays)
        steps.append(EscalationStep(worker_id=worker.id, deadline=deadline))
    steps.append(EscalationStep(worker_id=None, deadline=None))
    return UrgentRoute(received_at=now, steps=tuple(steps))
