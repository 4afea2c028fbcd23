"""Permanence plans as data, and their expansion into dated plan days for a period."""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking.holidays import FrenchHolidays
from booking.model import DayKind, Interval

PARIS = "Europe/Paris"


@dataclass(frozen=True, kw_only=True, slots=True)
class TimeWindow:
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a time window must end after it starts")


@dataclass(frozen=True, kw_only=True, slots=True)
class DayHours:
    """Opening hours of one day, with breaks (lunch) that are not bookable."""

    start: time
    end: time
    breaks: tuple[TimeWindow, ...] = ()

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("opening hours must end after they start")
        for brk in self.breaks:
            if brk.start < self.start or brk.end > self.end:
                raise ValueError("a break must lie inside the opening hours")

    def windows(self) -> list[TimeWindow]:
        """Bookable windows: the hours minus the breaks, in order."""
        result: list[TimeWindow] = []
        cursor = self.start
        for brk in sorted(self.breaks, key=lambda b: b.start):
            if brk.start > cursor:
                result.append(TimeWindow(start=cursor, end=brk.start))
            cursor = max(cursor, brk.end)
        if cursor < self.end:
            result.append(TimeWindow(start=cursor, end=self.end))
        return result


@dataclass(frozen=True, kw_only=True, slots=True)
class WeeklyDay:
    weekday: int  # Monday == 0
    kind: DayKind
    hours: DayHours


@dataclass(frozen=True, kw_only=True, slots=True)
class RetirementFridays:
    """Either a rule (the nth Fridays of each month) or explicit dates, or both."""

    nth: tuple[int, ...] = ()
    dates: tuple[date, ...] = ()
    hours: DayHours


@dataclass(frozen=True, kw_only=True, slots=True)
class ExplicitDay:
    """A day added by date: an extra day ordered by purchase order, or a moved day."""

    date: date
    kind: DayKind
    hours: DayHours


@dataclass(frozen=True, kw_only=True, slots=True)
class ClosedDay:
    date: date
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PermanencePlan:
    worker_id: str
    site_id: str
    place: str
    timezone: str = PARIS
    weekly: tuple[WeeklyDay, ...] = ()
    retirement: RetirementFridays | None = None
    explicit_days: tuple[ExplicitDay, ...] = ()
    closed_days: tuple[ClosedDay, ...] = ()
    slot_length: timedelta = timedelta(minutes=45)
    buffer: timedelta = timedelta(minutes=15)
    min_notice: timedelta = timedelta(hours=24)
    horizon: timedelta = timedelta(days=60)
    yearly_budget_days: int = 68
    ordered_extra_days: dict[int, int] = field(default_factory=dict)  # year -> days ordered
    # The years the yearly planning agreed at kick-off covers: the weekly and retirement rules
    # open days in these years only (dated extra days stand on their own). Empty: every year.
    years: tuple[int, ...] = ()

    def covers(self, year: int) -> bool:
        """Whether the plan's rules open days in `year`."""
        return not self.years or year in self.years

    def __post_init__(self) -> None:
        if self.slot_length <= timedelta(0):
            raise ValueError("slot length must be positive")
        if self.buffer < timedelta(0) or self.min_notice < timedelta(0):
            raise ValueError("buffer and notice cannot be negative")
        if self.horizon <= timedelta(0):
            raise ValueError("horizon must be positive")
        ZoneInfo(self.timezone)  # fails early on an unknown zone

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SkipReason(enum.StrEnum):
    HOLIDAY = "holiday"
    CLOSED = "closed"


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class PlanDay:
    """One dated day of presence, with its hours in the plan's local time."""

    date: date
    kind: DayKind
    hours: DayHours = field(compare=False)
    worker_id: str = ""
    site_id: str = field(default="", compare=False)
    place: str = field(default="", compare=False)
    timezone: str = field(default=PARIS, compare=False)

    def local(self, moment: time) -> datetime:
        return datetime.combine(self.date, moment, tzinfo=ZoneInfo(self.timezone))

    @property
    def start(self) -> datetime:
        return self.local(self.hours.start)

    @property
    def end(self) -> datetime:
        return self.local(self.hours.end)

    def bookable_intervals(self) -> list[Interval]:
        """The day's bookable windows as UTC intervals (correct across DST changes)."""
        return [Interval(start=self.local(w.start), end=self.local(w.end)) for w in self.hours.windows()]


@dataclass(frozen=True, kw_only=True, slots=True)
class SkippedDay:
    date: date
    kind: DayKind
    reason: SkipReason
    label: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanCalendar:
    days: tuple[PlanDay, ...]
    skipped: tuple[SkippedDay, ...]


def nth_weekday_of_month(year: int, month: int, weekday: int, nth: int) -> date | None:
    """The nth (1-based) given weekday of a month, or None when the month has fewer."""
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    day = 1 + offset + 7 * (nth - 1)
    if day > calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, day)


def _dates(start: date, end: date) -> Iterable[date]:
    current = start
    while current < end:
        yield current
        current += timedelta(days=1)


def expand_plan(
    plan: PermanencePlan,
    start: date,
    end: date,
    holidays: FrenchHolidays,
    added: Iterable[ExplicitDay] = (),
) -> PlanCalendar:
    """Plan days in [start, end): rule days minus holidays and closed days, plus explicit days.

    `added` are days the worker added in her calendar (by category); like the plan's
    explicit days, they are honoured even on a weekday outside the rules. Closed days
    always win; a holiday removes rule days and explicit days alike.
    """
    closed = {c.date: c.reason for c in plan.closed_days}
    # One kind a day: retirement rules override weekly ones, explicit days override both.
    candidates: dict[date, tuple[DayKind, DayHours]] = {}
    for day in _dates(start, end):
        if not plan.covers(day.year):
            continue
        for weekly in plan.weekly:
            if day.weekday() == weekly.weekday:
                candidates[day] = (weekly.kind, weekly.hours)
    if plan.retirement is not None:
        retirement = plan.retirement
        months = sorted({(d.year, d.month) for d in _dates(start, end)})
        for year, month in months:
            for nth in retirement.nth:
                friday = nth_weekday_of_month(year, month, calendar.FRIDAY, nth)
                if friday is not None and start <= friday < end and plan.covers(year):
                    candidates[friday] = (DayKind.RETIREMENT, retirement.hours)
        for friday in retirement.dates:
            if start <= friday < end:
                candidates[friday] = (DayKind.RETIREMENT, retirement.hours)
    for explicit in (*plan.explicit_days, *added):
        if start <= explicit.date < end:
            candidates[explicit.date] = (explicit.kind, explicit.hours)

    days: list[PlanDay] = []
    skipped: list[SkippedDay] = []
    for day, (kind, hours) in sorted(candidates.items()):
        holiday = holidays.name(day)
        if day in closed:
            skipped.append(SkippedDay(date=day, kind=kind, reason=SkipReason.CLOSED, label=closed[day]))
        elif holiday is not None:
            skipped.append(SkippedDay(date=day, kind=kind, reason=SkipReason.HOLIDAY, label=holiday))
        else:
            days.append(
                PlanDay(
                    date=day,
                    kind=kind,
                    hours=hours,
                    worker_id=plan.worker_id,
                    site_id=plan.site_id,
                    place=plan.place,
                    timezone=plan.timezone,
                )
            )
    return PlanCalendar(days=tuple(days), skipped=tuple(skipped))
