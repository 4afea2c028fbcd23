"""Retention: what may be kept, and the purge of the rest (the daily job and `permanence purge`)."""

from __future__ import annotations

from datetime import datetime

from booking.records import Retention
from bot.application.ports import UnitsOfWork


async def purge(
    store: UnitsOfWork,
    retention: Retention,
    now: datetime,
    *,
    dry_run: bool = False,
    actor: str = "system",
    operator: str | None = None,
) -> dict[str, int]:
    """Delete what retention no longer allows, in one transaction, audited; counts per kind."""
    async with store.unit_of_work() as uow:
        counts = await uow.retention.purge(retention, dry_run=dry_run)
        if not dry_run:
            await uow.audit.record(
                actor=actor, action="retention.purge", subject_type="store", subject_id="-", now=now, operator=operator
            )
        await uow.commit()
    return counts
