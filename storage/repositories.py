"""Repositories and the unit of work: the only way the rest of the product touches the database."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from booking.absence import Absence, AbsenceSource
from booking.errors import BookingRefused, RefusalReason
from booking.model import Appointment, AppointmentStatus, DayKind, Interval, Mode, Worker
from booking.reports import ReportAppointment, ReportUrgent
from storage.crypto import Keyring
from storage.models import (
    ACTIVE_STATUSES,
    AbsenceRow,
    AgentRow,
    AppointmentChangeRow,
    AppointmentRow,
    AuditRow,
    BotStateRow,
    CalendarEntryRow,
    OutboxRow,
    SyncStateRow,
    UrgentRequestRow,
    WorkerRow,
)

REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U


def new_id() -> str:
    return str(uuid.uuid4())


def new_reference(prefix: str) -> str:
    return prefix + "-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


class ConcurrentChange(Exception):
    """Someone else changed the row first (optimistic version or eTag mismatch)."""


class NotFound(Exception):
    """No such row (or not visible to the caller); carries no identifier."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredAppointment:
    appointment: Appointment
    reference: str
    site_id: str
    transaction_id: str
    outlook_event_id: str | None
    join_url: str | None

    @property
    def id(self) -> str:
        return self.appointment.id


@dataclass(frozen=True, kw_only=True, slots=True)
class AppointmentDetails:
    """What only the worker (and an acting replacement) may read, decrypted on demand."""

    agent_name: str
    topic_id: str | None
    message: str
    phone: str
    notes: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CalendarEntry:
    id: str
    worker_id: str
    interval: Interval
    category: str  # "busy" or a DayKind value
    external_id: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxMessage:
    id: int
    kind: str
    aggregate_id: str | None
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, kw_only=True, slots=True)
class UrgentRequest:
    id: str
    reference: str
    agent_id: str
    site_id: str
    received_at: datetime
    route: tuple[tuple[str | None, datetime | None], ...]
    handler_id: str | None
    step: int
    status: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    version: int


def _to_domain(row: AppointmentRow) -> StoredAppointment:
    return StoredAppointment(
        appointment=Appointment(
            id=row.id,
            worker_id=row.worker_id,
            agent_id=row.agent_id,
            start=row.start_at,
            end=row.end_at,
            mode=Mode(row.mode),
            kind=DayKind(row.kind),
            status=AppointmentStatus(row.status),
            urgent=row.urgent,
            version=row.version,
        ),
        reference=row.reference,
        site_id=row.site_id,
        transaction_id=row.transaction_id,
        outlook_event_id=row.outlook_event_id,
        join_url=row.join_url,
    )


class _Repository:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    def _seal(self, value: str, context: str) -> str:
        return self.keyring.encrypt(value, context) if value else ""

    def _open(self, token: str, context: str) -> str:
        return self.keyring.decrypt(token, context) if token else ""


class WorkerRepository(_Repository):
    async def sync(self, workers: Iterable[Worker]) -> None:
        """Mirror the plan's workers (the plan is the source; rows are never deleted)."""
        for worker in workers:
            row = await self.session.get(WorkerRow, worker.id)
            if row is None:
                row = WorkerRow(id=worker.id)
                self.session.add(row)
            row.name, row.role = worker.name, worker.role.value
            row.object_id, row.mailbox = worker.object_id, worker.mailbox
        await self.session.flush()


class AgentRepository(_Repository):
    async def find(self, object_id: str) -> str | None:
        row = await self.session.scalar(select(AgentRow.id).where(AgentRow.lookup == self.keyring.lookup(object_id)))
        return row

    async def ensure(self, object_id: str, name: str, now: datetime) -> str:
        """The agent's id, created on first contact; the name is refreshed and kept encrypted."""
        lookup = self.keyring.lookup(object_id)
        row = await self.session.scalar(select(AgentRow).where(AgentRow.lookup == lookup))
        if row is None:
            row = AgentRow(id=new_id(), lookup=lookup, created_at=now, updated_at=now)
            self.session.add(row)
        if name and (not row.name_enc or self._open(row.name_enc, f"agents.name:{row.id}") != name):
            row.name_enc = self._seal(name, f"agents.name:{row.id}")
            row.updated_at = now
        await self.session.flush()
        return row.id

    async def _get(self, agent_id: str) -> AgentRow:
        row = await self.session.get(AgentRow, agent_id)
        if row is None:
            raise NotFound
        return row

    async def profile(self, agent_id: str) -> tuple[str | None, str | None]:
        """(site id, preferred contact): not confidential, used to prefill the booking form."""
        row = await self._get(agent_id)
        return row.site_id, row.preferred_contact

    async def set_site(self, agent_id: str, site_id: str, now: datetime) -> None:
        row = await self._get(agent_id)
        row.site_id, row.updated_at = site_id, now

    async def set_phone(self, agent_id: str, phone: str, now: datetime) -> None:
        row = await self._get(agent_id)
        row.phone_enc, row.updated_at = self._seal(phone, f"agents.phone:{agent_id}"), now

    async def set_email(self, agent_id: str, email: str, now: datetime) -> None:
        row = await self._get(agent_id)
        row.email_enc, row.updated_at = self._seal(email, f"agents.email:{agent_id}"), now

    async def email(self, agent_id: str) -> str:
        row = await self._get(agent_id)
        return self._open(row.email_enc, f"agents.email:{agent_id}")

    async def set_conversation(self, agent_id: str, reference: dict[str, Any], now: datetime) -> None:
        row = await self._get(agent_id)
        row.conversation_enc = self._seal(json.dumps(reference, sort_keys=True), f"agents.conversation:{agent_id}")
        row.updated_at = now

    async def conversation(self, agent_id: str) -> dict[str, Any] | None:
        row = await self._get(agent_id)
        if not row.conversation_enc:
            return None
        value: dict[str, Any] = json.loads(self._open(row.conversation_enc, f"agents.conversation:{agent_id}"))
        return value

    async def name(self, agent_id: str) -> str:
        row = await self._get(agent_id)
        return self._open(row.name_enc, f"agents.name:{agent_id}")

    async def phone(self, agent_id: str) -> str:
        row = await self._get(agent_id)
        return self._open(row.phone_enc, f"agents.phone:{agent_id}")


class AppointmentRepository(_Repository):
    async def _overlapping(self, worker_id: str, interval: Interval, exclude: str | None = None) -> bool:
        query = select(func.count()).where(
            AppointmentRow.worker_id == worker_id,
            AppointmentRow.status.in_(ACTIVE_STATUSES),
            AppointmentRow.start_at < interval.end,
            AppointmentRow.end_at > interval.start,
        )
        if exclude is not None:
            query = query.where(AppointmentRow.id != exclude)
        return bool(await self.session.scalar(query))

    async def _flush_or_taken(self) -> None:
        try:
            await self.session.flush()
        except IntegrityError as err:
            raise BookingRefused(RefusalReason.SLOT_TAKEN) from err

    async def add(
        self,
        appointment: Appointment,
        *,
        site_id: str,
        topic_id: str | None,
        message: str,
        now: datetime,
        actor: str = "agent",
    ) -> StoredAppointment:
        """Insert an appointment; the database refuses a second active one on the slot.

        The overlap query covers intervals of other lengths on SQLite (whose writers are
        serialised); PostgreSQL's exclusion constraint enforces the same under concurrency.
        """
        if await self._overlapping(appointment.worker_id, appointment.interval):
            raise BookingRefused(RefusalReason.SLOT_TAKEN)
        row = AppointmentRow(
            id=appointment.id,
            reference=new_reference("RDV"),
            worker_id=appointment.worker_id,
            agent_id=appointment.agent_id,
            site_id=site_id,
            start_at=appointment.start,
            end_at=appointment.end,
            mode=appointment.mode.value,
            kind=appointment.kind.value,
            status=appointment.status.value,
            urgent=appointment.urgent,
            topic_enc=self._seal(topic_id or "", f"appointments.topic:{appointment.id}"),
            message_enc=self._seal(message, f"appointments.message:{appointment.id}"),
            transaction_id=new_id(),
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        await self._flush_or_taken()
        self._history(row, now, actor)
        return _to_domain(row)

    def _history(self, row: AppointmentRow, now: datetime, actor: str) -> None:
        self.session.add(
            AppointmentChangeRow(
                appointment_id=row.id,
                at=now,
                status=row.status,
                start_at=row.start_at,
                end_at=row.end_at,
                actor=actor,
            )
        )

    async def _row(self, appointment_id: str, *, agent_id: str | None = None) -> AppointmentRow:
        row = await self.session.get(AppointmentRow, appointment_id)
        if row is None or (agent_id is not None and row.agent_id != agent_id):
            raise NotFound
        return row

    async def get(self, appointment_id: str) -> StoredAppointment:
        return _to_domain(await self._row(appointment_id))

    async def by_reference(self, reference: str) -> StoredAppointment:
        row = await self.session.scalar(select(AppointmentRow).where(AppointmentRow.reference == reference))
        if row is None:
            raise NotFound
        return _to_domain(row)

    async def by_outlook_event(self, event_id: str) -> StoredAppointment | None:
        row = await self.session.scalar(select(AppointmentRow).where(AppointmentRow.outlook_event_id == event_id))
        return None if row is None else _to_domain(row)

    async def by_transaction(self, transaction_id: str) -> StoredAppointment | None:
        row = await self.session.scalar(select(AppointmentRow).where(AppointmentRow.transaction_id == transaction_id))
        return None if row is None else _to_domain(row)

    async def upcoming_for_agent(self, agent_id: str, now: datetime) -> list[StoredAppointment]:
        rows = await self.session.scalars(
            select(AppointmentRow)
            .where(
                AppointmentRow.agent_id == agent_id,
                AppointmentRow.status.in_(ACTIVE_STATUSES),
                AppointmentRow.end_at > now,
            )
            .order_by(AppointmentRow.start_at)
        )
        return [_to_domain(r) for r in rows]

    async def active_between(self, worker_ids: Sequence[str], start: datetime, end: datetime) -> list[Appointment]:
        rows = await self.session.scalars(
            select(AppointmentRow)
            .where(
                AppointmentRow.worker_id.in_(worker_ids),
                AppointmentRow.status.in_(ACTIVE_STATUSES),
                AppointmentRow.start_at < end,
                AppointmentRow.end_at > start,
            )
            .order_by(AppointmentRow.start_at, AppointmentRow.worker_id)
        )
        return [_to_domain(r).appointment for r in rows]

    async def for_worker(self, worker_id: str, start: datetime, end: datetime) -> list[StoredAppointment]:
        rows = await self.session.scalars(
            select(AppointmentRow)
            .where(
                AppointmentRow.worker_id == worker_id,
                AppointmentRow.start_at < end,
                AppointmentRow.end_at > start,
            )
            .order_by(AppointmentRow.start_at)
        )
        return [_to_domain(r) for r in rows]

    async def set_status(
        self, appointment_id: str, status: AppointmentStatus, *, version: int, now: datetime, actor: str
    ) -> StoredAppointment:
        row = await self._row(appointment_id)
        if row.version != version:
            raise ConcurrentChange
        row.status, row.updated_at = status.value, now
        await self._flush_or_taken()
        self._history(row, now, actor)
        return _to_domain(row)

    async def move(
        self, appointment_id: str, interval: Interval, *, version: int, now: datetime, actor: str
    ) -> StoredAppointment:
        """Move an appointment atomically: the old slot is released only if the new one is secured."""
        row = await self._row(appointment_id)
        if row.version != version:
            raise ConcurrentChange
        if row.status in ACTIVE_STATUSES and await self._overlapping(row.worker_id, interval, exclude=row.id):
            raise BookingRefused(RefusalReason.SLOT_TAKEN)
        row.start_at, row.end_at, row.updated_at = interval.start, interval.end, now
        await self._flush_or_taken()
        self._history(row, now, actor)
        return _to_domain(row)

    async def set_outlook(self, appointment_id: str, event_id: str, join_url: str | None, now: datetime) -> None:
        row = await self._row(appointment_id)
        row.outlook_event_id, row.join_url, row.updated_at = event_id, join_url, now
        await self.session.flush()

    async def set_notes(self, appointment_id: str, notes: str, now: datetime) -> None:
        row = await self._row(appointment_id)
        row.notes_enc, row.updated_at = self._seal(notes, f"appointments.notes:{appointment_id}"), now
        await self.session.flush()

    async def details(self, appointment_id: str, agents: AgentRepository) -> AppointmentDetails:
        """Decrypt who and why. The caller must be the worker or her acting replacement,
        and records the read in the audit trail."""
        row = await self._row(appointment_id)
        topic = self._open(row.topic_enc, f"appointments.topic:{row.id}")
        return AppointmentDetails(
            agent_name=await agents.name(row.agent_id),
            topic_id=topic or None,
            message=self._open(row.message_enc, f"appointments.message:{row.id}"),
            phone=await agents.phone(row.agent_id),
            notes=self._open(row.notes_enc, f"appointments.notes:{row.id}"),
        )

    async def report_rows(self, start: datetime, end: datetime) -> list[ReportAppointment]:
        """Rows for aggregate reports: the topic is decrypted here and only counted by the caller."""
        rows = await self.session.scalars(
            select(AppointmentRow).where(AppointmentRow.start_at >= start, AppointmentRow.start_at < end)
        )
        return [
            ReportAppointment(
                start=r.start_at,
                booked_at=r.created_at,
                site_id=r.site_id,
                mode=Mode(r.mode),
                kind=DayKind(r.kind),
                status=AppointmentStatus(r.status),
                urgent=r.urgent,
                topic_id=self._open(r.topic_enc, f"appointments.topic:{r.id}") or None,
            )
            for r in rows
        ]

    async def history(self, appointment_id: str) -> list[tuple[datetime, str, str]]:
        rows = await self.session.scalars(
            select(AppointmentChangeRow)
            .where(AppointmentChangeRow.appointment_id == appointment_id)
            .order_by(AppointmentChangeRow.id)
        )
        return [(r.at, r.status, r.actor) for r in rows]


class UrgentRepository(_Repository):
    @staticmethod
    def _domain(row: UrgentRequestRow) -> UrgentRequest:
        return UrgentRequest(
            id=row.id,
            reference=row.reference,
            agent_id=row.agent_id,
            site_id=row.site_id,
            received_at=row.received_at,
            route=tuple(
                (s["worker_id"], datetime.fromisoformat(s["deadline"]) if s["deadline"] else None) for s in row.route
            ),
            handler_id=row.handler_id,
            step=row.step,
            status=row.status,
            acknowledged_by=row.acknowledged_by,
            acknowledged_at=row.acknowledged_at,
            version=row.version,
        )

    async def add(
        self,
        *,
        agent_id: str,
        site_id: str,
        route: Sequence[tuple[str | None, datetime | None]],
        description: str,
        phone: str,
        availability: str,
        now: datetime,
    ) -> UrgentRequest:
        request_id = new_id()
        row = UrgentRequestRow(
            id=request_id,
            reference=new_reference("URG"),
            agent_id=agent_id,
            site_id=site_id,
            received_at=now,
            description_enc=self._seal(description, f"urgent.description:{request_id}"),
            phone_enc=self._seal(phone, f"urgent.phone:{request_id}"),
            availability_enc=self._seal(availability, f"urgent.availability:{request_id}"),
            route=[{"worker_id": w, "deadline": d.isoformat() if d else None} for w, d in route],
            handler_id=route[0][0],
            step=0,
            status="open",
        )
        self.session.add(row)
        await self.session.flush()
        return self._domain(row)

    async def get(self, request_id: str) -> UrgentRequest:
        row = await self.session.get(UrgentRequestRow, request_id)
        if row is None:
            raise NotFound
        return self._domain(row)

    async def open_requests(self) -> list[UrgentRequest]:
        rows = await self.session.scalars(
            select(UrgentRequestRow).where(UrgentRequestRow.status == "open").order_by(UrgentRequestRow.received_at)
        )
        return [self._domain(r) for r in rows]

    async def acknowledge(self, request_id: str, worker_id: str, now: datetime) -> UrgentRequest:
        """Only the first acknowledgement wins; a second one raises ConcurrentChange."""
        result = await self.session.execute(
            update(UrgentRequestRow)
            .where(UrgentRequestRow.id == request_id, UrgentRequestRow.status == "open")
            .values(
                status="acknowledged",
                acknowledged_by=worker_id,
                acknowledged_at=now,
                version=UrgentRequestRow.version + 1,
            )
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            await self.get(request_id)  # NotFound when it does not exist
            raise ConcurrentChange
        return await self.get(request_id)

    async def escalate(self, request_id: str, step: int, handler_id: str | None, *, version: int) -> UrgentRequest:
        result = await self.session.execute(
            update(UrgentRequestRow)
            .where(
                UrgentRequestRow.id == request_id,
                UrgentRequestRow.status == "open",
                UrgentRequestRow.version == version,
            )
            .values(step=step, handler_id=handler_id, version=UrgentRequestRow.version + 1)
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentChange
        return await self.get(request_id)

    async def report_rows(self, start: datetime, end: datetime) -> list[ReportUrgent]:
        rows = await self.session.scalars(
            select(UrgentRequestRow).where(UrgentRequestRow.received_at >= start, UrgentRequestRow.received_at < end)
        )
        return [
            ReportUrgent(received_at=r.received_at, acknowledged_at=r.acknowledged_at, site_id=r.site_id) for r in rows
        ]

    async def details(self, request_id: str) -> tuple[str, str, str]:
        """(description, phone, availability), decrypted; the caller audits the read."""
        row = await self.session.get(UrgentRequestRow, request_id)
        if row is None:
            raise NotFound
        return (
            self._open(row.description_enc, f"urgent.description:{request_id}"),
            self._open(row.phone_enc, f"urgent.phone:{request_id}"),
            self._open(row.availability_enc, f"urgent.availability:{request_id}"),
        )


class AbsenceRepository(_Repository):
    async def add(self, absence: Absence, now: datetime, external_id: str | None = None) -> str:
        row = AbsenceRow(
            id=new_id(),
            worker_id=absence.worker_id,
            start_at=absence.start,
            end_at=absence.end,
            source=absence.source.value,
            external_id=external_id,
            replacement_id=absence.replacement_id,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def overlapping(self, start: datetime, end: datetime) -> list[Absence]:
        rows = await self.session.scalars(
            select(AbsenceRow).where(AbsenceRow.start_at < end, AbsenceRow.end_at > start).order_by(AbsenceRow.start_at)
        )
        return [
            Absence(
                worker_id=r.worker_id,
                start=r.start_at,
                end=r.end_at,
                source=AbsenceSource(r.source),
                replacement_id=r.replacement_id,
            )
            for r in rows
        ]

    async def replace_from_source(
        self, worker_id: str, source: AbsenceSource, absences: Sequence[Absence], now: datetime
    ) -> None:
        """Replace every absence of one worker from one Outlook source (sync is the truth)."""
        await self.session.execute(
            delete(AbsenceRow).where(AbsenceRow.worker_id == worker_id, AbsenceRow.source == source.value)
        )
        for absence in absences:
            await self.add(absence, now)

    async def remove(self, absence_id: str) -> None:
        await self.session.execute(delete(AbsenceRow).where(AbsenceRow.id == absence_id))


class CalendarRepository(_Repository):
    async def put(
        self,
        *,
        worker_id: str,
        interval: Interval,
        category: str,
        now: datetime,
        external_id: str | None = None,
        appointment_id: str | None = None,
    ) -> str:
        """Insert, or update the entry with the same external id (idempotent sync)."""
        row = None
        if external_id is not None:
            row = await self.session.scalar(
                select(CalendarEntryRow).where(
                    CalendarEntryRow.worker_id == worker_id, CalendarEntryRow.external_id == external_id
                )
            )
        if row is None:
            row = CalendarEntryRow(id=new_id(), worker_id=worker_id, external_id=external_id)
            self.session.add(row)
        row.start_at, row.end_at, row.category = interval.start, interval.end, category
        row.appointment_id, row.updated_at = appointment_id, now
        await self.session.flush()
        return row.id

    async def remove(self, entry_id: str) -> None:
        await self.session.execute(delete(CalendarEntryRow).where(CalendarEntryRow.id == entry_id))

    async def remove_external(self, worker_id: str, external_id: str) -> None:
        await self.session.execute(
            delete(CalendarEntryRow).where(
                CalendarEntryRow.worker_id == worker_id, CalendarEntryRow.external_id == external_id
            )
        )

    async def prune_external(self, worker_id: str, keep: set[str]) -> int:
        """After a full listing: remove mirrored entries whose event was not listed."""
        rows = await self.session.scalars(
            select(CalendarEntryRow).where(
                CalendarEntryRow.worker_id == worker_id, CalendarEntryRow.external_id.is_not(None)
            )
        )
        gone = [r.id for r in rows if r.external_id not in keep]
        if gone:
            await self.session.execute(delete(CalendarEntryRow).where(CalendarEntryRow.id.in_(gone)))
        return len(gone)

    async def between(self, worker_ids: Sequence[str], start: datetime, end: datetime) -> list[CalendarEntry]:
        rows = await self.session.scalars(
            select(CalendarEntryRow)
            .where(
                CalendarEntryRow.worker_id.in_(worker_ids),
                CalendarEntryRow.start_at < end,
                CalendarEntryRow.end_at > start,
            )
            .order_by(CalendarEntryRow.start_at, CalendarEntryRow.id)
        )
        return [
            CalendarEntry(
                id=r.id,
                worker_id=r.worker_id,
                interval=Interval(start=r.start_at, end=r.end_at),
                category=r.category,
                external_id=r.external_id,
            )
            for r in rows
        ]


class OutboxRepository(_Repository):
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
        self, claimer: str, now: datetime, *, limit: int = 10, lease: timedelta = timedelta(minutes=2)
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


class SyncStateRepository(_Repository):
    async def get(self, key: str) -> dict[str, Any] | None:
        row = await self.session.get(SyncStateRow, key)
        return None if row is None else dict(row.value)

    async def put(self, key: str, value: dict[str, Any], now: datetime) -> None:
        row = await self.session.get(SyncStateRow, key)
        if row is None:
            self.session.add(SyncStateRow(key=key, value=value, updated_at=now))
        else:
            row.value, row.updated_at = value, now
        await self.session.flush()


class AuditRepository(_Repository):
    """Append-only: there is no update or delete here on purpose."""

    async def record(self, *, actor: str, action: str, subject_type: str, subject_id: str, now: datetime) -> None:
        self.session.add(AuditRow(at=now, actor=actor, action=action, subject_type=subject_type, subject_id=subject_id))
        await self.session.flush()

    async def entries(self, subject_id: str | None = None) -> list[tuple[datetime, str, str, str, str]]:
        query = select(AuditRow).order_by(AuditRow.id)
        if subject_id is not None:
            query = query.where(AuditRow.subject_id == subject_id)
        return [(r.at, r.actor, r.action, r.subject_type, r.subject_id) for r in await self.session.scalars(query)]


class KeyValueRepository(_Repository):
    """Documents with eTags, for the bot's conversation state (encrypted: it holds form input)."""

    def _key(self, key: str) -> str:
        return self.keyring.lookup("state:" + key)

    async def read(self, keys: Sequence[str]) -> dict[str, tuple[dict[str, Any], str]]:
        hashed = {self._key(k): k for k in keys}
        if not hashed:
            return {}
        rows = await self.session.scalars(select(BotStateRow).where(BotStateRow.key.in_(hashed)))
        result = {}
        for row in rows:
            value = json.loads(self.keyring.decrypt(row.value_enc, f"bot_state:{row.key}"))
            result[hashed[row.key]] = (value, str(row.etag))
        return result

    async def write(self, key: str, value: dict[str, Any], etag: str | None, now: datetime) -> str:
        """Write a document; with an eTag other than '*', only if nobody wrote since."""
        hashed = self._key(key)
        sealed = self.keyring.encrypt(json.dumps(value, sort_keys=True, default=str), f"bot_state:{hashed}")
        row = await self.session.get(BotStateRow, hashed, with_for_update=True)
        if row is None:
            if etag not in (None, "*", ""):
                raise ConcurrentChange
            try:
                async with self.session.begin_nested():
                    self.session.add(BotStateRow(key=hashed, value_enc=sealed, etag=1, updated_at=now))
            except IntegrityError as err:
                raise ConcurrentChange from err
            return "1"
        if etag not in (None, "*", "") and etag != str(row.etag):
            raise ConcurrentChange
        result = await self.session.execute(
            update(BotStateRow)
            .where(and_(BotStateRow.key == hashed, BotStateRow.etag == row.etag))
            .values(value_enc=sealed, etag=row.etag + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentChange
        return str(row.etag + 1)

    async def delete(self, keys: Sequence[str]) -> None:
        await self.session.execute(delete(BotStateRow).where(BotStateRow.key.in_([self._key(k) for k in keys])))


@dataclass(frozen=True, kw_only=True, slots=True)
class Retention:
    """What may be kept: appointments and urgent requests ended before `records_before` go
    (with their history), agents with nothing left and unseen since then too, conversation
    state idle since `state_before`, done outbox rows since `outbox_before`, audit entries
    since `audit_before`."""

    records_before: datetime
    state_before: datetime
    outbox_before: datetime
    audit_before: datetime


class RetentionRepository(_Repository):
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
            "audit": select(func.count()).where(AuditRow.at < retention.audit_before),
        }
        counts = {name: int(await self.session.scalar(query) or 0) for name, query in plan.items()}
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
        await self.session.execute(delete(AuditRow).where(AuditRow.at < retention.audit_before))
        return counts


class UnitOfWork:
    """One transaction; rolls back unless `commit()` was called."""

    def __init__(
        self, factory: async_sessionmaker[AsyncSession], keyring: Keyring, *, lock: asyncio.Lock | None = None
    ) -> None:
        self._factory = factory
        self._keyring = keyring
        self._lock = lock
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        if self._lock is not None:
            await self._lock.acquire()
        self.session = self._factory()
        try:
            await self.session.begin()
        except BaseException:
            await self.session.close()
            if self._lock is not None:
                self._lock.release()
            raise
        keyring = self._keyring
        self.workers = WorkerRepository(self.session, keyring)
        self.agents = AgentRepository(self.session, keyring)
        self.appointments = AppointmentRepository(self.session, keyring)
        self.urgent = UrgentRepository(self.session, keyring)
        self.absences = AbsenceRepository(self.session, keyring)
        self.calendar = CalendarRepository(self.session, keyring)
        self.outbox = OutboxRepository(self.session, keyring)
        self.sync_state = SyncStateRepository(self.session, keyring)
        self.audit = AuditRepository(self.session, keyring)
        self.state = KeyValueRepository(self.session, keyring)
        self.retention = RetentionRepository(self.session, keyring)
        return self

    async def commit(self) -> None:
        try:
            await self.session.commit()
        except StaleDataError as err:
            raise ConcurrentChange from err
        except IntegrityError as err:
            raise BookingRefused(RefusalReason.SLOT_TAKEN) from err
        self._committed = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()
            if self._lock is not None:
                self._lock.release()
