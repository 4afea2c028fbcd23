"""A worker's declared absences (those read from Outlook come with the calendar sync): declared
by her in Teams or by an operator (`permanence absences`), listed, cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from booking.absence import Absence, AbsenceSource
from booking.model import Worker
from booking.records import StoredAbsence
from bot.application.access import actor
from bot.application.context import AccessDenied, Context


class InvalidAbsence(ValueError):
    """The dates do not make an absence to come."""


class NotDeclaredHere(Exception):
    """The absence was read from Outlook: it is changed there, and the next sync follows."""

    def __init__(self, source: AbsenceSource) -> None:
        super().__init__(source.value)
        self.source = source


@dataclass(frozen=True, kw_only=True, slots=True)
class ListedAbsence:
    stored: StoredAbsence
    reason: str | None  # None: not asked for (reading it is audited)

    @property
    def declared_here(self) -> bool:
        return self.stored.absence.source is AbsenceSource.DECLARED


class Absences:
    def __init__(self, context: Context) -> None:
        self.context = context

    async def declare(
        self,
        *,
        now: datetime,
        worker: Worker,
        start: date,
        end: date,
        replacement_id: str | None,
        reason: str = "",
        by: str | None = None,
        operator: str | None = None,
    ) -> StoredAbsence:
        """An absence from the first day to the last day included (local dates); `by` names who
        declared it for the audit (default: the worker herself), `operator` the system user."""
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
            absence_id = await uow.absences.add(absence, now, reason=reason)
            await uow.audit.record(
                actor=by or actor(worker),
                action="absence.declare",
                subject_type="absence",
                subject_id=absence_id,
                now=now,
                operator=operator,
            )
            await uow.commit()
        return StoredAbsence(id=absence_id, absence=absence, created_at=now)

    async def listing(
        self, now: datetime, *, reasons: bool = False, by: str = "admin", operator: str | None = None
    ) -> list[ListedAbsence]:
        """Current and future absences of every source. With `reasons`, each reason read is audited."""
        async with self.context.store.unit_of_work() as uow:
            stored = await uow.absences.ending_after(now)
            listed = []
            for item in stored:
                reason = None
                if reasons and item.absence.source is AbsenceSource.DECLARED:
                    reason = await uow.absences.reason(item.id)
                    await uow.audit.record(
                        actor=by,
                        action="absence.read_reason",
                        subject_type="absence",
                        subject_id=item.id,
                        now=now,
                        operator=operator,
                    )
                listed.append(ListedAbsence(stored=item, reason=reason))
            await uow.commit()
        return listed

    async def cancel(
        self, absence_id: str, now: datetime, *, by: str = "admin", operator: str | None = None
    ) -> Absence:
        """Remove an absence declared in Permanence (raises `NotFound`, or `NotDeclaredHere` for
        one read from Outlook: the sync would bring it back)."""
        async with self.context.store.unit_of_work() as uow:
            stored = await uow.absences.get(absence_id)
            if stored.absence.source is not AbsenceSource.DECLARED:
                raise NotDeclaredHere(stored.absence.source)
            await uow.absences.remove(absence_id)
            await uow.audit.record(
                actor=by,
                action="absence.cancel",
                subject_type="absence",
                subject_id=absence_id,
                now=now,
                operator=operator,
            )
            await uow.commit()
        return stored.absence
