"""The worker's edits of the embedded (local) calendar: block a time, add a day of presence.
With Outlook, she does the same in Outlook and the calendar sync brings it here."""

from __future__ import annotations

from datetime import date, datetime

from booking.model import DayKind, Interval, Worker
from booking.plan import DayHours
from bot.application.access import actor
from bot.application.context import Context


class LocalCalendarEdits:
    def __init__(self, context: Context) -> None:
        self.context = context

    def interval(self, day: date, hours: DayHours) -> Interval:
        return Interval(
            start=datetime.combine(day, hours.start, tzinfo=self.context.zone),
            end=datetime.combine(day, hours.end, tzinfo=self.context.zone),
        )

    async def _put(self, *, now: datetime, worker: Worker, interval: Interval, category: str, action: str) -> str:
        async with self.context.store.unit_of_work() as uow:
            entry_id = await uow.calendar.put(worker_id=worker.id, interval=interval, category=category, now=now)
            await uow.audit.record(
                actor=actor(worker), action=action, subject_type="calendar", subject_id=entry_id, now=now
            )
            await uow.commit()
        return entry_id

    async def block_time(self, *, now: datetime, worker: Worker, day: date, hours: DayHours) -> Interval:
        interval = self.interval(day, hours)
        await self._put(now=now, worker=worker, interval=interval, category="busy", action="calendar.block")
        return interval

    async def add_day(self, *, now: datetime, worker: Worker, day: date, kind: DayKind, hours: DayHours) -> Interval:
        interval = self.interval(day, hours)
        await self._put(now=now, worker=worker, interval=interval, category=kind.value, action="calendar.add_day")
        return interval
