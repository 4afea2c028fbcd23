"""Days of presence used and planned against the contracted yearly budget."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from booking.model import DayKind
from booking.plan import PermanencePlan, PlanCalendar


@dataclass(frozen=True, kw_only=True, slots=True)
class DayBudget:
    year: int
    contracted: int
    ordered: int
    planned: int  # all plan days of the year
    used: int  # plan days before `today`
    by_kind: dict[DayKind, int]

    @property
    def total(self) -> int:
        return self.contracted + self.ordered

    @property
    def remaining(self) -> int:
        """Budget left once every planned day is worked (negative: over budget)."""
        return self.total - self.planned


def day_budget(plan: PermanencePlan, calendar: PlanCalendar, year: int, today: date) -> DayBudget:
    days = [d for d in calendar.days if d.date.year == year]
    return DayBudget(
        year=year,
        contracted=plan.yearly_budget_days,
        ordered=plan.ordered_extra_days.get(year, 0),
        planned=len(days),
        used=sum(1 for d in days if d.date < today),
        by_kind=dict(Counter(d.kind for d in days)),
    )
