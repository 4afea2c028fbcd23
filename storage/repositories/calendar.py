"""Calendar entries: busy time and added days, local or mirrored from Outlook."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, select

from booking.model import Interval
from booking.records import (
    CalendarEntry,
)
from storage.models import (
    CalendarEntryRow,
)
from storage.repositories.base import Repository, new_id, table

# What slot computation reads, on every offer: built once, the columns it needs only.
_ENTRIES = table(CalendarEntryRow).c
_BETWEEN = (
    select(
        _ENTRIES.id,
        _ENTRIES.worker_id,
        _ENTRIES.start_at,
        _ENTRIES.end_at,
        _ENTRIES.category,
        _ENTRIES.external_id,
    )
    .where(
        _ENTRIES.worker_id.in_(bindparam("workers", expanding=True)),
        _ENTRIES.start_at < bindparam("end", type_=_ENTRIES.start_at.type),
        _ENTRIES.end_at > bindparam("start", type_=_ENTRIES.end_at.type),
    )
    .order_by(_ENTRIES.start_at, _ENTRIES.id)
)
_BETWEEN_OF_CATEGORY = _BETWEEN.where(_ENTRIES.category == bindparam("category"))


class CalendarRepository(Repository):
    async def put(
        self,
        *,
        worker_id: str,
        interval: Interval,
        category: str,
        now: datetime,
        external_id: str | None = None,
        appointment_id: str | None = None,
    ) -> str:
        """Insert, or update the entry with the same external id (idempotent sync)."""
        row = None
        if external_id is not None:
            row = await self.session.scalar(
                select(CalendarEntryRow).where(
                    CalendarEntryRow.worker_id == worker_id, CalendarEntryRow.external_id == external_id
                )
            )
        if row is None:
            row = CalendarEntryRow(id=new_id(), worker_id=worker_id, external_id=external_id)
            self.session.add(row)
        row.start_at, row.end_at, row.category = interval.start, interval.end, category
        row.appointment_id, row.updated_at = appointment_id, now
        await self.session.flush()
        return row.id

    async def remove(self, entry_id: str) -> None:
        await self.session.execute(delete(CalendarEntryRow).where(CalendarEntryRow.id == entry_id))

    async def remove_external(self, worker_id: str, external_id: str) -> None:
        await self.session.execute(
            delete(CalendarEntryRow).where(
                CalendarEntryRow.worker_id == worker_id, CalendarEntryRow.external_id == external_id
            )
        )

    async def prune_external(self, worker_id: str, keep: set[str]) -> int:
        """After a full listing: remove mirrored entries whose event was not listed."""
        rows = await self.session.scalars(
            select(CalendarEntryRow).where(
                CalendarEntryRow.worker_id == worker_id, CalendarEntryRow.external_id.is_not(None)
            )
        )
        gone = [r.id for r in rows if r.external_id not in keep]
        if gone:
            await self.session.execute(delete(CalendarEntryRow).where(CalendarEntryRow.id.in_(gone)))
        return len(gone)

    async def between(
        self, worker_ids: Sequence[str], start: datetime, end: datetime, *, category: str | None = None
    ) -> list[CalendarEntry]:
        parameters: dict[str, object] = {"workers": list(worker_ids), "start": start, "end": end}
        if category is None:
            rows = await self.session.execute(_BETWEEN, parameters)
        else:
            rows = await self.session.execute(_BETWEEN_OF_CATEGORY, {**parameters, "category": category})
        return [
            CalendarEntry(
                id=r.id,
                worker_id=r.worker_id,
                interval=Interval(start=r.start_at, end=r.end_at),
                category=r.category,
                external_id=r.external_id,
            )
            for r in rows
        ]
