"""The hand-over of case files to a successor (contract §4.2): everything about the agents
concerned, out of one deployment and into another; sealing is the caller's (storage.dossier_file)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.application.access import operator_grant
from bot.application.messages import CalendarCreate, queue
from bot.application.ports import UnitsOfWork


async def export_files(
    store: UnitsOfWork, *, open_only: bool, now: datetime, actor: str = "admin", operator: str | None = None
) -> dict[str, Any]:
    async with store.unit_of_work() as uow:
        grant = await operator_grant(
            uow,
            actor=actor,
            action="dossiers.export",
            subject_type="dossiers",
            subject_id="open" if open_only else "all",
            now=now,
            operator=operator,
        )
        payload = await uow.dossiers.export(open_only=open_only, now=now, grant=grant)
        await uow.commit()
    return payload


async def import_files(
    store: UnitsOfWork,
    payload: dict[str, Any],
    *,
    assign_to: str | None,
    now: datetime,
    actor: str = "admin",
    operator: str | None = None,
) -> dict[str, int]:
    """Idempotent; with `assign_to`, every file goes to that successor and her upcoming
    appointments are written into her calendar by the outbox."""
    async with store.unit_of_work() as uow:
        grant = await operator_grant(
            uow,
            actor=actor,
            action="dossiers.import",
            subject_type="dossiers",
            subject_id=str(len(payload.get("appointments", []))),
            now=now,
            operator=operator,
        )
        imported = await uow.dossiers.import_(payload, assign_to=assign_to, now=now, grant=grant)
        writes = 0
        if assign_to:  # the successor's upcoming appointments go into her calendar
            for appointment in imported.appointments:
                start = appointment.start
                if appointment.status in ("requested", "confirmed") and start is not None and start > now:
                    await queue(uow.outbox, CalendarCreate(appointment.id), now, aggregate_id=appointment.id)
                    writes += 1
        await uow.commit()
    return {**imported.counts, "calendar_writes": writes}
