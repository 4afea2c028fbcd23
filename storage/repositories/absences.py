"""Absences of workers, declared or read from Outlook."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select

from booking.absence import Absence, AbsenceSource
from storage.models import (
    AbsenceRow,
)
from storage.repositories.base import Repository, new_id


class AbsenceRepository(Repository):
    async def add(self, absence: Absence, now: datetime, external_id: str | None = None) -> str:
        row = AbsenceRow(
            id=new_id(),
            worker_id=absence.worker_id,
            start_at=absence.start,
            end_at=absence.end,
            source=absence.source.value,
            external_id=external_id,
            replacement_id=absence.replacement_id,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def overlapping(self, start: datetime, end: datetime) -> list[Absence]:
        rows = await self.session.scalars(
            select(AbsenceRow).where(AbsenceRow.start_at < end, AbsenceRow.end_at > start).order_by(AbsenceRow.start_at)
        )
        return [
            Absence(
                worker_id=r.worker_id,
                start=r.start_at,
                end=r.end_at,
                source=AbsenceSource(r.source),
                replacement_id=r.replacement_id,
            )
            for r in rows
        ]

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
