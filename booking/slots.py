"""Slots from plan days, minus busy time, with notice, horizon and alternatives."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import datetime

from booking.model import DayKind, Interval, Slot, Topic, ensure_utc
from booking.plan import PermanencePlan, PlanDay

# Without a topic ("prefer not to say" included) an agent is offered the general days:
# retirement Fridays are kept for retirement files.
GENERAL_DAYS = frozenset({DayKind.PERMANENCE, DayKind.EXTRA})


def slots_of_day(day: PlanDay, plan: PermanencePlan) -> list[Slot]:
    """Every slot of a plan day: slot length plus buffer, inside each bookable window."""
    step = plan.slot_length + plan.buffer
    result: list[Slot] = []
    for window in day.bookable_intervals():
        start = window.start
        while start + plan.slot_length <= window.end:
            result.append(
                Slot(
                    start=start,
                    end=start + plan.slot_length,
                    worker_id=day.worker_id or plan.worker_id,
                    kind=day.kind,
                    site_id=day.site_id or plan.site_id,
                    place=day.place or plan.place,
                )
            )
            start += step
    return result


class BusyIndex:
    """Sorted busy intervals answering overlap queries in O(log n)."""

    def __init__(self, busy: Iterable[Interval]) -> None:
        merged: list[Interval] = []
        for interval in sorted(busy):
            if merged and interval.start <= merged[-1].end:
                last = merged[-1]
                merged[-1] = Interval(start=last.start, end=max(last.end, interval.end))
            else:
                merged.append(interval)
        self._intervals = merged
        self._starts = [i.start for i in merged]

    def overlaps(self, interval: Interval) -> bool:
        # The only candidate is the last merged interval starting before `interval.end`.
        index = bisect.bisect_left(self._starts, interval.end) - 1
        return index >= 0 and self._intervals[index].end > interval.start


def free_slots(
    *,
    plan: PermanencePlan,
    days: Iterable[PlanDay],
    busy: Iterable[Interval],
    now: datetime,
    topic: Topic | None = None,
) -> list[Slot]:
    """Slots of `days` that start within [now + notice, now + horizon) and overlap nothing busy.

    `busy` holds the worker's busy calendar time, absences and existing appointments.
    Without a topic only the general days are offered. The result is sorted and does not
    depend on the order of the inputs.
    """
    kinds = topic.day_kinds if topic is not None else GENERAL_DAYS
    now = ensure_utc(now, "now")
    earliest = now + plan.min_notice
    latest = now + plan.horizon
    index = BusyIndex(busy)
    result = {
        slot
        for day in days
        if day.kind in kinds
        for slot in slots_of_day(day, plan)
        if earliest <= slot.start < latest and not index.overlaps(slot.interval)
    }
    return sorted(result)


def alternatives(wanted: datetime, available: Sequence[Slot], count: int = 3) -> list[Slot]:
    """The `count` available slots nearest to `wanted`, earlier first on ties, in time order."""
    wanted = ensure_utc(wanted, "wanted")
    nearest = sorted(available, key=lambda s: (abs(s.start - wanted), s.start, s.worker_id))[:count]
    return sorted(nearest)
