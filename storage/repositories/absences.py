"""Absences of workers, declared or read from Outlook."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select

from booking.absence import Absence, AbsenceSource
from booking.records import NotFound, StoredAbsence
from storage.models import (
    AbsenceRow,
)
from storage.repositories.base import Repository, new_id, table

# What slot computation reads, on every offer: built once, the columns it needs only.
_ABSENCES = table(AbsenceRow).c
_OVERLAPPING = (
    select(
        _ABSENCES.worker_id,
        _ABSENCES.start_at,
        _ABSENCES.end_at,
        _ABSENCES.source,
        _ABSENCES.replacement_id,
    )
    .where(
        _ABSENCES.start_at < bindparam("end", type_=_ABSENCES.start_at.type),
        _ABSENCES.end_at > bindparam("start", type_=_ABSENCES.end_at.type),
    )
    .order_by(_ABSENCES.start_at)
)


class AbsenceRepository(Repository):
    async def add(self, absence: Absence, now: datetime, external_id: str | None = None, *, reason: str = "") -> str:
        absence_id = new_id()
        row = AbsenceRow(
            id=absence_id,
            worker_id=absence.worker_id,
            start_at=absence.start,
            end_at=absence.end,
            source=absence.source.value,
            external_id=external_id,
            replacement_id=absence.replacement_id,
            created_at=now,
            reason_enc=self._seal(reason, f"absences.reason:{absence_id}"),
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def overlapping(self, start: datetime, end: datetime) -> list[Absence]:
        rows = await self.session.execute(_OVERLAPPING, {"start": start, "end": end})
        return [self._absence(r) for r in rows]

    @staticmethod
    def _absence(row: Any) -> Absence:  # a row of the table, or of `_OVERLAPPING`'s columns
        return Absence(
            worker_id=row.worker_id,
            start=row.start_at,
            end=row.end_at,
            source=AbsenceSource(row.source),
            replacement_id=row.replacement_id,
        )

    async def ending_after(self, moment: datetime) -> list[StoredAbsence]:
        """Current and future absences, every source, in order of start."""
        rows = await self.session.scalars(
            select(AbsenceRow).where(AbsenceRow.end_at > moment).order_by(AbsenceRow.start_at, AbsenceRow.id)
        )
        return [StoredAbsence(id=r.id, absence=self._absence(r), created_at=r.created_at) for r in rows]

    async def get(self, absence_id: str) -> StoredAbsence:
        row = await self.session.get(AbsenceRow, absence_id)
        if row is None:
            raise NotFound
        return StoredAbsence(id=row.id, absence=self._absence(row), created_at=row.created_at)

    async def reason(self, absence_id: str) -> str:
        row = await self.session.get(AbsenceRow, absence_id)
        if row is None:
            raise NotFound
        return self._open(row.reason_enc, f"absences.reason:{absence_id}")

    async def replace_from_source(
        self, worker_id: str, source: AbsenceSource, absences: Sequence[Absence], now: datetime
    ) -> None:
        """Replace every absence of one worker from one Outlook source (sync is the truth)."""
        await self.session.execute(
            delete(AbsenceRow).where(AbsenceRow.worker_id == worker_id, AbsenceRow.source == source.value)
        )
        for absence in absences:
            await self.add(absence, now)

    async def remove(self, absence_id: str) -> None:
        await self.session.execute(delete(AbsenceRow).where(AbsenceRow.id == absence_id))
