"""The outbox: calendar writes and messages claimed with leases and done exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, func, insert, or_, select, update

from booking.records import (
    Conflict,
    NotFound,
    OutboxEntry,
    OutboxHealth,
    OutboxMessage,
)
from storage.models import (
    OutboxRow,
)
from storage.repositories.base import Repository, table

# A pending row due for longer than this is late: the dispatcher should have delivered it by now.
OVERDUE_AFTER = timedelta(minutes=5)
STATES = ("due", "late", "dead", "all")
# Short, and renewed by the claimer's heartbeat while it works: a killed process's claims are
# taken over seconds after its last renewal, not minutes.
LEASE = timedelta(seconds=15)


# Every effect queues at least one message: a plain INSERT of the table, built once.
_ADD = insert(table(OutboxRow))

# The dispatcher's claim, on every pass: columns only (no ORM identity map), then one UPDATE.
_OUTBOX = table(OutboxRow).c
_CLAIMABLE = (
    select(
        _OUTBOX.id,
        _OUTBOX.kind,
        _OUTBOX.aggregate_id,
        _OUTBOX.payload,
        _OUTBOX.attempts,
        _OUTBOX.next_attempt_at,
    )
    .where(
        _OUTBOX.status == "pending",
        _OUTBOX.next_attempt_at <= bindparam("now", type_=_OUTBOX.next_attempt_at.type),
        or_(
            _OUTBOX.claimed_until.is_(None),
            _OUTBOX.claimed_until <= bindparam("now", type_=_OUTBOX.claimed_until.type),
        ),
    )
    .order_by(_OUTBOX.id)
)
_CLAIM = (
    update(table(OutboxRow))
    .where(_OUTBOX.id.in_(bindparam("ids", expanding=True)))
    .values(
        claimed_by=bindparam("claimer", type_=_OUTBOX.claimed_by.type),
        claimed_until=bindparam("until", type_=_OUTBOX.claimed_until.type),
        attempts=_OUTBOX.attempts + 1,
    )
)


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
        result = await self.session.execute(
            _ADD,
            {
                "kind": kind,
                "aggregate_id": aggregate_id,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": max(now, not_before) if not_before else now,
                "created_at": now,
            },
        )
        return int(result.inserted_primary_key[0])  # type: ignore[attr-defined]

    async def claim(
        self, claimer: str, now: datetime, *, limit: int = 10, lease: timedelta = LEASE
    ) -> list[OutboxMessage]:
        """Claim ready messages for `lease`. PostgreSQL skips rows other replicas hold; SQLite
        serialises writers, so one claimer at a time. An expired lease (a killed process)
        makes the message claimable again."""
        query = _CLAIMABLE.limit(limit)
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = (await self.session.execute(query, {"now": now})).all()
        if not rows:
            return []
        await self.session.execute(_CLAIM, {"ids": [r.id for r in rows], "claimer": claimer, "until": now + lease})
        return [
            OutboxMessage(
                id=r.id,
                kind=r.kind,
                aggregate_id=r.aggregate_id,
                payload=dict(r.payload),
                attempts=r.attempts + 1,
                due_at=r.next_attempt_at,
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

    async def drop_notifications(self, aggregate_ids: list[str]) -> int:
        """Delete the messages to agents about these appointments or requests (their payload
        names the agent), whatever their state: used when she has her data erased. Calendar
        writes stay: they name nobody, and a cancellation must still reach Outlook."""
        if not aggregate_ids:
            return 0
        result = await self.session.execute(
            delete(OutboxRow).where(OutboxRow.kind == "notify.agent", OutboxRow.aggregate_id.in_(aggregate_ids))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def withdraw(self, kind: str, aggregate_id: str, what: str, now: datetime) -> int:
        """Delete the pending messages of `kind` about `aggregate_id` whose payload's `what` is
        `what`, unless being delivered (a message already claimed goes out as it is)."""
        free = (
            OutboxRow.status == "pending",
            or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now),
        )
        rows = await self.session.execute(
            select(OutboxRow.id, OutboxRow.payload).where(
                OutboxRow.kind == kind, OutboxRow.aggregate_id == aggregate_id, *free
            )
        )
        ids = [r.id for r in rows if r.payload.get("what") == what]
        if not ids:
            return 0
        result = await self.session.execute(delete(OutboxRow).where(OutboxRow.id.in_(ids), *free))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

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

    # -- operations (the `permanence outbox` commands and the health gauges) --------------------

    def _where(self, state: str, now: datetime, overdue_after: timedelta) -> ColumnElement[bool]:
        pending = OutboxRow.status == "pending"
        if state == "dead":
            return OutboxRow.status == "dead"
        if state == "late":
            return and_(pending, OutboxRow.next_attempt_at <= now - overdue_after)
        if state == "due":
            return and_(pending, OutboxRow.next_attempt_at <= now)
        if state == "all":
            return OutboxRow.status != "done"
        raise ValueError(f"unknown outbox state {state!r} (one of {', '.join(STATES)})")

    async def entries(
        self, now: datetime, *, state: str = "all", limit: int = 500, overdue_after: timedelta = OVERDUE_AFTER
    ) -> list[OutboxEntry]:
        """Rows not done yet (or those of one `state`), oldest due first; never the payloads."""
        shown = case(
            (OutboxRow.status == "dead", "dead"),
            (OutboxRow.next_attempt_at > now, "scheduled"),
            (OutboxRow.next_attempt_at <= now - overdue_after, "late"),
            else_="due",
        )
        rows = await self.session.execute(
            select(
                OutboxRow.id,
                OutboxRow.kind,
                shown,
                OutboxRow.attempts,
                OutboxRow.next_attempt_at,
                OutboxRow.last_error,
                OutboxRow.created_at,
            )
            .where(self._where(state, now, overdue_after))
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(limit)
        )
        return [
            OutboxEntry(id=r[0], kind=r[1], state=r[2], attempts=r[3], due_at=r[4], last_error=r[5], created_at=r[6])
            for r in rows
        ]

    async def health(self, now: datetime, *, overdue_after: timedelta = OVERDUE_AFTER) -> OutboxHealth:
        """Counts for alerting: due rows (future reminders excluded), late ones and dead ones, in one query."""

        def count(state: str) -> ColumnElement[int]:
            return func.coalesce(func.sum(case((self._where(state, now, overdue_after), 1), else_=0)), 0)

        row = (
            await self.session.execute(
                select(count("due"), count("late"), count("dead")).where(OutboxRow.status != "done")
            )
        ).one()
        return OutboxHealth(due=int(row[0]), overdue=int(row[1]), dead=int(row[2]))

    async def _state_of(self, message_id: int) -> str:
        status = await self.session.scalar(select(OutboxRow.status).where(OutboxRow.id == message_id))
        if status is None:
            raise NotFound()
        return status

    async def retry_now(self, message_id: int, now: datetime) -> None:
        """Make a dead (or waiting) row due now with a fresh back-off. A row being delivered (leased)
        or already done is refused with `Conflict`; an unknown id raises `NotFound`."""
        result = await self.session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id == message_id,
                or_(
                    OutboxRow.status == "dead",
                    and_(
                        OutboxRow.status == "pending",
                        or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now),
                    ),
                ),
            )
            .values(status="pending", attempts=0, next_attempt_at=now, claimed_by=None, claimed_until=None)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            await self._state_of(message_id)
            raise Conflict()

    async def retry_dead(self, now: datetime) -> int:
        """Requeue every dead row; each one once, even when two operators run it at the same time."""
        result = await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=now, claimed_by=None, claimed_until=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def drop(self, message_id: int, now: datetime, *, force: bool = False) -> None:
        """Delete a dead row; with `force`, a pending one too unless it is being delivered.
        Done rows are left to the retention purge (`Conflict`); an unknown id raises `NotFound`."""
        allowed = OutboxRow.status == "dead"
        if force:
            allowed = or_(
                allowed,
                and_(
                    OutboxRow.status == "pending",
                    or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now),
                ),
            )
        result = await self.session.execute(delete(OutboxRow).where(OutboxRow.id == message_id, allowed))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            await self._state_of(message_id)
            raise Conflict()
