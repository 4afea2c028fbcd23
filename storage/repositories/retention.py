"""Retention: what may be kept, and the purge of the rest."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, exists, func, select, update

from booking.records import (
    Retention,
)
from storage.models import (
    AgentRow,
    AppointmentChangeRow,
    AppointmentRow,
    BotStateRow,
    CalendarEntryRow,
    IdempotencyRow,
    OutboxRow,
    UrgentRequestRow,
)
from storage.repositories.appointments import LONGEST
from storage.repositories.audit import AuditRepository
from storage.repositories.base import Repository

BATCH = 5000  # ids per statement (asyncpg takes at most 32767 parameters)


def _batches(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]


class RetentionRepository(Repository):
    async def purge(self, retention: Retention, *, dry_run: bool = False) -> dict[str, int]:
        before = retention.records_before
        # An appointment ends before `before` only if it starts before it (the start index).
        old_appointments = select(AppointmentRow.id).where(
            AppointmentRow.start_at < before, AppointmentRow.end_at < before
        )
        old_urgent = select(UrgentRequestRow.id).where(UrgentRequestRow.received_at < before)
        # Agents with nothing kept: an anti-join, never NOT IN over every kept appointment.
        idle_agents = select(AgentRow.id).where(
            AgentRow.updated_at < before,
            ~exists().where(
                AppointmentRow.agent_id == AgentRow.id,
                AppointmentRow.start_at >= before - LONGEST,
                AppointmentRow.end_at >= before,
            ),
            ~exists().where(UrgentRequestRow.agent_id == AgentRow.id, UrgentRequestRow.received_at >= before),
        )
        plan = {
            "appointments": select(func.count()).select_from(old_appointments.subquery()),
            "urgent_requests": select(func.count()).select_from(old_urgent.subquery()),
            "agents": select(func.count()).select_from(idle_agents.subquery()),
            "conversation_state": select(func.count()).where(BotStateRow.updated_at < retention.state_before),
            "outbox": select(func.count()).where(
                OutboxRow.status == "done", OutboxRow.done_at < retention.outbox_before
            ),
            "idempotency_keys": select(func.count()).where(IdempotencyRow.created_at < retention.state_before),
        }
        counts = {name: int(await self.session.scalar(query) or 0) for name, query in plan.items()}
        audit = AuditRepository(self.session, self.keyring)
        counts["audit"] = await audit.purgeable(retention.audit_before)
        if dry_run:
            return counts
        appointment_ids = list(await self.session.scalars(old_appointments))
        urgent_ids = list(await self.session.scalars(old_urgent))
        agent_ids = list(await self.session.scalars(idle_agents))
        # In batches: a purge may concern hundreds of thousands of rows.
        for batch in _batches([*appointment_ids, *urgent_ids]):
            await self.session.execute(delete(OutboxRow).where(OutboxRow.aggregate_id.in_(batch)))
        for batch in _batches(appointment_ids):
            await self.session.execute(
                update(CalendarEntryRow).where(CalendarEntryRow.appointment_id.in_(batch)).values(appointment_id=None)
            )
            await self.session.execute(
                delete(AppointmentChangeRow).where(AppointmentChangeRow.appointment_id.in_(batch))
            )
            await self.session.execute(delete(AppointmentRow).where(AppointmentRow.id.in_(batch)))
        for batch in _batches(urgent_ids):
            await self.session.execute(delete(UrgentRequestRow).where(UrgentRequestRow.id.in_(batch)))
        for batch in _batches(agent_ids):
            await self.session.execute(delete(AgentRow).where(AgentRow.id.in_(batch)))
        await self.session.execute(delete(BotStateRow).where(BotStateRow.updated_at < retention.state_before))
        await self.session.execute(
            delete(OutboxRow).where(OutboxRow.status == "done", OutboxRow.done_at < retention.outbox_before)
        )
        await self.session.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at < retention.state_before))
        await audit.purge_before(retention.audit_before, retention.audit_before)
        return counts
