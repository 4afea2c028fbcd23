"""Activity reports for HR and the social action committee: counts only, small counts hidden
(the aggregation itself is pure, in `booking.reports`)."""

from __future__ import annotations

from datetime import datetime

from booking.reports import ReportAppointment, ReportUrgent
from bot.application.access import report_grant
from bot.application.ports import UnitsOfWork


async def report_rows(
    store: UnitsOfWork,
    *,
    start: datetime,
    end: datetime,
    period: str,
    now: datetime,
    actor: str = "report",
    operator: str | None = None,
) -> tuple[list[ReportAppointment], list[ReportUrgent]]:
    """The period's rows (topics decrypted only to be counted), the generation audited."""
    async with store.unit_of_work() as uow:
        grant = await report_grant(uow, period=period, now=now, actor=actor, operator=operator)
        appointments = await uow.appointments.report_rows(start, end, grant=grant)
        urgent = await uow.urgent.report_rows(start, end)
        await uow.commit()
    return appointments, urgent
