"""Plan expansion: Thursdays, retirement Fridays, holidays, closed days, DST and the budget."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta

from booking.budget import day_budget
from booking.document import Deployment
from booking.holidays import FrenchHolidays
from booking.model import DayKind
from booking.plan import ClosedDay, DayHours, ExplicitDay, SkipReason, expand_plan, nth_weekday_of_month


def year(deployment: Deployment, holidays: FrenchHolidays, y: int = 2027):  # type: ignore[no-untyped-def]
    return expand_plan(deployment.plans["ass"], date(y, 1, 1), date(y + 1, 1, 1), holidays)


def test_thursdays_of_2027_skip_ascension_and_armistice(deployment, holidays):
    calendar = year(deployment, holidays)
    thursdays = [d for d in calendar.days if d.kind is DayKind.PERMANENCE]
    assert all(d.date.weekday() == 3 for d in thursdays)
    # 2027 has 52 Thursdays; Ascension (6 May) and Armistice (11 Nov) fall on one, and the
    # sample closes six of the worker's weeks: 44, the contract's figure.
    assert len(thursdays) == 44
    assert sum(1 for s in calendar.skipped if s.reason is SkipReason.CLOSED) == 6
    skipped = {s.date: s for s in calendar.skipped}
    assert skipped[date(2027, 5, 6)].reason is SkipReason.HOLIDAY
    assert skipped[date(2027, 5, 6)].label == "Ascension"
    assert skipped[date(2027, 11, 11)].label == "Armistice"


def test_ascension_is_skipped_every_year(deployment, holidays):
    # The rules, without the sample's list of agreed years, over ten years.
    every_year = dataclasses.replace(deployment.plans["ass"], years=())
    for y in range(2026, 2036):
        calendar = expand_plan(every_year, date(y, 1, 1), date(y + 1, 1, 1), holidays)
        ascension = [s for s in calendar.skipped if s.label == "Ascension"]
        assert len(ascension) == 1 and ascension[0].date.weekday() == 3
        assert ascension[0].date not in {d.date for d in calendar.days}


def test_retirement_fridays_are_first_and_third_fridays(deployment, holidays):
    calendar = year(deployment, holidays)
    fridays = [d.date for d in calendar.days if d.kind is DayKind.RETIREMENT]
    # 24 first/third Fridays in 2027, minus 1 January (a Friday, Jour de l'an), plus the 8th instead.
    assert len(fridays) == 24
    assert date(2027, 1, 1) in {s.date for s in calendar.skipped}
    assert date(2027, 1, 8) in fridays
    for friday in fridays:
        assert friday.weekday() == 4
        assert friday == date(2027, 1, 8) or friday in {
            nth_weekday_of_month(friday.year, friday.month, 4, 1),
            nth_weekday_of_month(friday.year, friday.month, 4, 3),
        }


def test_nth_weekday_of_month_returns_none_when_the_month_is_short():
    assert nth_weekday_of_month(2027, 2, 0, 5) is None  # February 2027 has four Mondays
    assert nth_weekday_of_month(2027, 3, 0, 5) == date(2027, 3, 29)


def test_explicit_and_closed_days(deployment, holidays):
    hours = DayHours(start=time(9), end=time(12))
    plan = dataclasses.replace(
        deployment.plans["ass"],
        explicit_days=(ExplicitDay(date=date(2027, 3, 9), kind=DayKind.EXTRA, hours=hours),),
        closed_days=(ClosedDay(date=date(2027, 3, 11), reason="CPAS"),),
    )
    calendar = expand_plan(plan, date(2027, 3, 8), date(2027, 3, 15), holidays)
    assert [(d.date, d.kind) for d in calendar.days] == [(date(2027, 3, 9), DayKind.EXTRA)]
    assert [(s.date, s.reason, s.label) for s in calendar.skipped] == [(date(2027, 3, 11), SkipReason.CLOSED, "CPAS")]


def test_days_added_in_the_calendar_open_a_day(deployment, holidays):
    added = ExplicitDay(date=date(2027, 3, 10), kind=DayKind.EXTRA, hours=DayHours(start=time(14), end=time(16)))
    calendar = expand_plan(deployment.plans["ass"], date(2027, 3, 8), date(2027, 3, 15), holidays, [added])
    assert date(2027, 3, 10) in {d.date for d in calendar.days}


def test_hours_follow_daylight_saving_time(deployment, holidays):
    # 2027: summer time starts Sunday 28 March, ends Sunday 31 October.
    calendar = expand_plan(deployment.plans["ass"], date(2027, 3, 22), date(2027, 4, 2), holidays)
    before, after = (d for d in calendar.days if d.kind is DayKind.PERMANENCE)
    assert before.bookable_intervals()[0].start == datetime(2027, 3, 25, 8, 0, tzinfo=UTC)
    assert after.bookable_intervals()[0].start == datetime(2027, 4, 1, 7, 0, tzinfo=UTC)
    autumn = expand_plan(deployment.plans["ass"], date(2027, 10, 28), date(2027, 11, 5), holidays)
    first, second = (d for d in autumn.days if d.kind is DayKind.PERMANENCE)
    assert first.bookable_intervals()[0].start.hour == 7
    assert second.bookable_intervals()[0].start.hour == 8


def test_lunch_break_splits_the_day(deployment):
    hours = deployment.plans["ass"].weekly[0].hours
    assert [(w.start, w.end) for w in hours.windows()] == [
        (time(9), time(12)),
        (time(13, 30), time(17)),
    ]


def test_budget_counts_plan_days_against_68_plus_ordered_days(deployment, holidays):
    plan = dataclasses.replace(deployment.plans["ass"], ordered_extra_days={2027: 3})
    calendar = expand_plan(plan, date(2027, 1, 1), date(2028, 1, 1), holidays)
    budget = day_budget(plan, calendar, 2027, today=date(2027, 7, 1))
    assert budget.contracted == 68 and budget.ordered == 3 and budget.total == 71
    assert budget.planned == 68 == budget.by_kind[DayKind.PERMANENCE] + budget.by_kind[DayKind.RETIREMENT]
    assert budget.remaining == 3
    assert budget.used == sum(1 for d in calendar.days if d.date < date(2027, 7, 1))
    assert 0 < budget.used < budget.planned


def test_a_plan_period_is_half_open(deployment, holidays):
    thursday = date(2027, 3, 4)
    calendar = expand_plan(deployment.plans["ass"], thursday, thursday + timedelta(days=1), holidays)
    assert [d.date for d in calendar.days] == [thursday]
    assert expand_plan(deployment.plans["ass"], thursday, thursday, holidays).days == ()
