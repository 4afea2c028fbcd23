"""The append-only audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from storage.models import (
    AuditRow,
)
from storage.repositories.base import Repository


class AuditRepository(Repository):
    """Append-only: there is no update or delete here on purpose."""

    async def record(self, *, actor: str, action: str, subject_type: str, subject_id: str, now: datetime) -> None:
        self.session.add(AuditRow(at=now, actor=actor, action=action, subject_type=subject_type, subject_id=subject_id))
        await self.session.flush()

    async def entries(self, subject_id: str | None = None) -> list[tuple[datetime, str, str, str, str]]:
        query = select(AuditRow).order_by(AuditRow.id)
        if subject_id is not None:
            query = query.where(AuditRow.subject_id == subject_id)
        return [(r.at, r.actor, r.action, r.subject_type, r.subject_id) for r in await self.session.scalars(query)]
