"""A worker's declared absences (those read from Outlook come with the calendar sync)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from booking.absence import Absence, AbsenceSource
from booking.model import Worker
from bot.application.access import actor
from bot.application.context import AccessDenied, Context


class InvalidAbsence(ValueError):
    """The dates do not make an absence to come."""


class Absences:
    def __init__(self, context: Context) -> None:
        self.context = context

    async def declare(
        self, *, now: datetime, worker: Worker, start: date, end: date, replacement_id: str | None
    ) -> Absence:
        """An absence from the first day to the last day included (local dates)."""
        context = self.context
        if end < start:
            raise InvalidAbsence("the absence ends before it starts")
        if end < context.local_date(now):
            raise InvalidAbsence("the absence is over already")
        if replacement_id is not None and replacement_id not in [
            w.id for w in context.directory.replacement_chain(worker.id)
        ]:
            raise AccessDenied
        absence = Absence(
            worker_id=worker.id,
            start=context.local_midnight(start),
            end=context.local_midnight(end + timedelta(days=1)),
            source=AbsenceSource.DECLARED,
            replacement_id=replacement_id,
        )
        async with context.store.unit_of_work() as uow:
            absence_id = await uow.absences.add(absence, now)
            await uow.audit.record(
                actor=actor(worker), action="absence.declare", subject_type="absence", subject_id=absence_id, now=now
            )
            await uow.commit()
        return absence
