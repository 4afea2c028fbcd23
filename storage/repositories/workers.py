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
        """Mirror the plan's workers (the plan is the source; rows are never deleted).

        One upsert per worker, so replicas starting together (or reloading the same plan at once)
        both succeed instead of one of them failing on the primary key."""
        for worker in workers:
            values = {
                "name": worker.name,
                "role": worker.role.value,
                "object_id": worker.object_id,
                "mailbox": worker.mailbox,
            }
            statement = self._insert(WorkerRow).values(id=worker.id, **values)
            await self.session.execute(statement.on_conflict_do_update(index_elements=[WorkerRow.id], set_=values))

    async def ids(self) -> list[str]:
        """Every worker ever mirrored (a plan change may drop one who still has appointments)."""
        return list(await self.session.scalars(select(WorkerRow.id).order_by(WorkerRow.id)))
