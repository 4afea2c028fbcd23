"""The outbox: calendar writes and messages claimed with leases and done exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from booking.records import (
    OutboxMessage,
)
from storage.models import (
    OutboxRow,
)
from storage.repositories.base import Repository

# Short, and renewed by the claimer's heartbeat while it works: a killed process's claims are
# taken over seconds after its last renewal, not minutes.
LEASE = timedelta(seconds=15)


class OutboxRepository(Repository):
    async def add(
        self,
        kind: str,
        payload: dict[str, Any],
        now: datetime,
        aggregate_id: str | None = None,
        *,
        not_before: datetime | None = None,
    ) -> int:
        """Queue a message; `not_before` schedules it (reminders survive restarts this way)."""
        row = OutboxRow(
            kind=kind,
            aggregate_id=aggregate_id,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=max(now, not_before) if not_before else now,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def claim(
        self, claimer: str, now: datetime, *, limit: int = 10, lease: timedelta = LEASE
    ) -> list[OutboxMessage]:
        """Claim ready messages for `lease`. PostgreSQL skips rows other replicas hold; SQLite
        serialises writers, so one claimer at a time. An expired lease (a killed process)
        makes the message claimable again."""
        query = (
            select(OutboxRow)
            .where(
                OutboxRow.status == "pending",
                OutboxRow.next_attempt_at <= now,
                or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now),
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(await self.session.scalars(query))
        for row in rows:
            row.claimed_by, row.claimed_until, row.attempts = claimer, now + lease, row.attempts + 1
        await self.session.flush()
        return [
            OutboxMessage(
                id=r.id,
                kind=r.kind,
                aggregate_id=r.aggregate_id,
                payload=dict(r.payload),
                attempts=r.attempts,
            )
            for r in rows
        ]

    async def renew(self, message_ids: list[int], claimer: str, now: datetime, *, lease: timedelta = LEASE) -> int:
        """Extend the lease of the messages `claimer` still holds (its heartbeat); a message
        another claimer took over after an expiry is not touched. Returns how many were renewed."""
        if not message_ids:
            return 0
        result = await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(message_ids), OutboxRow.status == "pending", OutboxRow.claimed_by == claimer)
            .values(claimed_until=now + lease)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def complete(self, message_id: int, claimer: str, now: datetime) -> bool:
        """Mark done exactly once: only the current claimer of a pending message can."""
        result = await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == message_id, OutboxRow.status == "pending", OutboxRow.claimed_by == claimer)
            .values(status="done", done_at=now, claimed_until=None)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def retry_later(
        self, message_id: int, claimer: str, error_code: str, retry_at: datetime, *, dead: bool = False
    ) -> None:
        await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == message_id, OutboxRow.claimed_by == claimer)
            .values(
                status="dead" if dead else "pending",
                last_error=error_code[:200],
                next_attempt_at=retry_at,
                claimed_until=None,
            )
        )

    async def has_pending(self, kind: str, aggregate_id: str) -> bool:
        found = await self.session.scalar(
            select(func.count()).where(
                OutboxRow.kind == kind,
                OutboxRow.aggregate_id == aggregate_id,
                OutboxRow.status == "pending",
                OutboxRow.claimed_until.is_(None),
            )
        )
        return bool(found)

    async def depth(self) -> int:
        return int(await self.session.scalar(select(func.count()).where(OutboxRow.status == "pending")) or 0)

    async def statuses(self, aggregate_id: str) -> list[tuple[str, str, int]]:
        rows = await self.session.scalars(
            select(OutboxRow).where(OutboxRow.aggregate_id == aggregate_id).order_by(OutboxRow.id)
        )
        return [(r.kind, r.status, r.attempts) for r in rows]
