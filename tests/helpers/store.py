"""A store with workers, agents and appointments, built through the repositories."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from booking.model import Appointment, AppointmentStatus, DayKind, Mode, Worker, WorkerRole
from storage.store import Store

NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)

SLOT = datetime(2027, 3, 4, 8, tzinfo=UTC)

WORKERS = [
    Worker(id="ass", name="Assistante sociale", role=WorkerRole.TITULAR),
    Worker(id="remplacante", name="Remplaçante", role=WorkerRole.REPLACEMENT),
]


def appointment(
    agent_id: str,
    start: datetime = SLOT,
    minutes: int = 45,
    worker: str = "ass",
    *,
    mode: Mode = Mode.TEAMS,
    kind: DayKind = DayKind.PERMANENCE,
    status: AppointmentStatus = AppointmentStatus.CONFIRMED,
    id: str | None = None,
) -> Appointment:
    """A confirmed 45-minute Teams appointment of the permanence with the titular, unless told."""
    return Appointment(
        id=id or str(uuid.uuid4()),
        worker_id=worker,
        agent_id=agent_id,
        start=start,
        end=start + timedelta(minutes=minutes),
        mode=mode,
        kind=kind,
        status=status,
    )


async def seed(store: Store, *object_ids: str) -> list[str]:
    async with store.unit_of_work() as uow:
        await uow.workers.sync(WORKERS)
        agents = [await uow.agents.ensure(oid, f"Agent {oid}", NOW) for oid in object_ids]
        await uow.commit()
    return agents


async def book(store: Store, appt: Appointment, message: str = "", topic: str | None = None) -> str:
    async with store.unit_of_work() as uow:
        stored = await uow.appointments.add(appt, site_id="vanves", topic_id=topic, message=message, now=NOW)
        await uow.outbox.add("create_event", {"appointment_id": stored.id}, NOW, aggregate_id=stored.id)
        await uow.audit.record(actor="agent", action="book", subject_type="appointment", subject_id=stored.id, now=NOW)
        await uow.commit()
    return stored.id
