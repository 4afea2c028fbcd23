"""Retention: what may be kept, and the purge of the rest."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

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
from storage.repositories.audit import AuditRepository
from storage.repositories.base import Repository


class RetentionRepository(Repository):
    async def purge(self, retention: Retention, *, dry_run: bool = False) -> dict[str, int]:
        old_appointments = select(AppointmentRow.id).where(AppointmentRow.end_at < retention.records_before)
        old_urgent = select(UrgentRequestRow.id).where(UrgentRequestRow.received_at < retention.records_before)
        kept_agents = (
            select(AppointmentRow.agent_id)
            .where(AppointmentRow.end_at >= retention.records_before)
            .union(select(UrgentRequestRow.agent_id).where(UrgentRequestRow.received_at >= retention.records_before))
        )
        idle_agents = select(AgentRow.id).where(
            AgentRow.updated_at < retention.records_before, AgentRow.id.not_in(kept_agents)
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
        if appointment_ids or urgent_ids:
            await self.session.execute(
                delete(OutboxRow).where(OutboxRow.aggregate_id.in_([*appointment_ids, *urgent_ids]))
            )
        if appointment_ids:
            await self.session.execute(
                update(CalendarEntryRow)
                .where(CalendarEntryRow.appointment_id.in_(appointment_ids))
                .values(appointment_id=None)
            )
            await self.session.execute(
                delete(AppointmentChangeRow).where(AppointmentChangeRow.appointment_id.in_(appointment_ids))
            )
            await self.session.execute(delete(AppointmentRow).where(AppointmentRow.id.in_(appointment_ids)))
        if urgent_ids:
            await self.session.execute(delete(UrgentRequestRow).where(UrgentRequestRow.id.in_(urgent_ids)))
        if agent_ids:
            await self.session.execute(delete(AgentRow).where(AgentRow.id.in_(agent_ids)))
        await self.session.execute(delete(BotStateRow).where(BotStateRow.updated_at < retention.state_before))
        await self.session.execute(
            delete(OutboxRow).where(OutboxRow.status == "done", OutboxRow.done_at < retention.outbox_before)
        )
        await self.session.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at < retention.state_before))
        await audit.purge_before(retention.audit_before, retention.audit_before)
        return counts
