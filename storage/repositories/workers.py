"""The plan's workers mirrored in the database."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from booking.model import Worker
from storage.models import (
    WorkerRow,
)
from storage.repositories.base import Repository


class WorkerRepository(Repository):
    async def sync(self, workers: Iterable[Worker]) -> None:
        """Mirror the plan's workers (the plan is the source; rows are never deleted)."""
        for worker in workers:
            row = await self.session.get(WorkerRow, worker.id)
            if row is None:
                row = WorkerRow(id=worker.id)
                self.session.add(row)
            row.name, row.role = worker.name, worker.role.value
            row.object_id, row.mailbox = worker.object_id, worker.mailbox
        await self.session.flush()

    async def ids(self) -> list[str]:
        """Every worker ever mirrored (a plan change may drop one who still has appointments)."""
        return list(await self.session.scalars(select(WorkerRow.id).order_by(WorkerRow.id)))
