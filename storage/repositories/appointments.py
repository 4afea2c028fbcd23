"""Appointments, their history and their encrypted who and why."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from booking.grants import Grant, Purpose, require, require_everything
from booking.model import Appointment, AppointmentStatus, DayKind, Interval, Mode
from booking.records import (
    AppointmentDetails,
    ConcurrentChange,
    Conflict,
    NotFound,
    StoredAppointment,
)
from booking.reports import ReportAppointment
from storage.crypto import KeyringError
from storage.models import (
    ACTIVE_STATUSES,
    AgentRow,
    AppointmentChangeRow,
    AppointmentRow,
)
from storage.repositories.agents import AgentRepository
from storage.repositories.base import Repository, new_id, new_reference, table, to_appointment, to_domain
from storage.sealing import appointment_context, join_url_context, opens, report

# No appointment lasts longer (a slot lies within one day; `add` and `move` refuse longer):
# a query for the appointments overlapping a period also bounds their start from below, so
# that an index on (…, start_at) is range-scanned instead of read from the worker's first
# appointment ever.
LONGEST = timedelta(hours=24)


def overlapping(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """Appointments overlapping [start, end)."""
    return (
        AppointmentRow.start_at < end,
        AppointmentRow.start_at > start - LONGEST,
        AppointmentRow.end_at > start,
    )


def _check_length(interval: Interval) -> None:
    if interval.end - interval.start > LONGEST:
        raise ValueError("an appointment lasts at most a day")


_APPOINTMENTS = table(AppointmentRow).c

# « Mes rendez-vous », on every turn that lists them: built once (its cache key too).
_UPCOMING_FOR_AGENT = (
    select(table(AppointmentRow))
    .where(
        _APPOINTMENTS.agent_id == bindparam("agent"),
        _APPOINTMENTS.status.in_(ACTIVE_STATUSES),
        _APPOINTMENTS.end_at > bindparam("now", type_=_APPOINTMENTS.end_at.type),
        # Bounds the index range (agent, start): her past appointments are not read.
        _APPOINTMENTS.start_at > bindparam("earliest", type_=_APPOINTMENTS.start_at.type),
    )
    .order_by(_APPOINTMENTS.start_at)
)


# A new appointment's checks and rows: built once.
_OVERLAPS = (
    select(_APPOINTMENTS.id)
    .where(
        _APPOINTMENTS.worker_id == bindparam("worker"),
        _APPOINTMENTS.status.in_(ACTIVE_STATUSES),
        _APPOINTMENTS.id != bindparam("exclude"),
        # overlapping(start, end), as bound parameters
        _APPOINTMENTS.start_at < bindparam("end", type_=_APPOINTMENTS.start_at.type),
        _APPOINTMENTS.start_at > bindparam("earliest", type_=_APPOINTMENTS.start_at.type),
        _APPOINTMENTS.end_at > bindparam("start", type_=_APPOINTMENTS.end_at.type),
    )
    .limit(1)
)
_INSERT = insert(table(AppointmentRow))
_INSERT_CHANGE = insert(table(AppointmentChangeRow))


# The outbox, once a calendar event is written (not an ORM flush: one statement, built once).
_SET_OUTLOOK = (
    update(table(AppointmentRow))
    .where(_APPOINTMENTS.id == bindparam("appointment"))
    .values(
        outlook_event_id=bindparam("event", type_=_APPOINTMENTS.outlook_event_id.type),
        join_url=bindparam("url", type_=_APPOINTMENTS.join_url.type),
        updated_at=bindparam("at", type_=_APPOINTMENTS.updated_at.type),
    )
)


# What slot computation reads, on every offer: built once. Only the columns slots need, never
# the ciphertexts (most of a row's bytes).
_ACTIVE_BETWEEN = (
    select(
        _APPOINTMENTS.id,
        _APPOINTMENTS.worker_id,
        _APPOINTMENTS.agent_id,
        _APPOINTMENTS.start_at,
        _APPOINTMENTS.end_at,
        _APPOINTMENTS.mode,
        _APPOINTMENTS.kind,
        _APPOINTMENTS.status,
        _APPOINTMENTS.urgent,
        _APPOINTMENTS.version,
    )
    .where(
        _APPOINTMENTS.worker_id.in_(bindparam("workers", expanding=True)),
        _APPOINTMENTS.status.in_(ACTIVE_STATUSES),
        # overlapping(start, end), as bound parameters
        _APPOINTMENTS.start_at < bindparam("end", type_=_APPOINTMENTS.start_at.type),
        _APPOINTMENTS.start_at > bindparam("earliest", type_=_APPOINTMENTS.start_at.type),
        _APPOINTMENTS.end_at > bindparam("start", type_=_APPOINTMENTS.end_at.type),
    )
    .order_by(_APPOINTMENTS.start_at, _APPOINTMENTS.worker_id)
)


class AppointmentRepository(Repository):
    async def _overlapping(self, worker_id: str, interval: Interval, exclude: str | None = None) -> bool:
        found = await self.session.scalar(
            _OVERLAPS,
            {
                "worker": worker_id,
                "start": interval.start,
                "end": interval.end,
                "earliest": interval.start - LONGEST,
                "exclude": exclude or "",
            },
        )
        return found is not None

    async def _flush_or_taken(self) -> None:
        try:
            await self.session.flush()
        except IntegrityError as err:
            raise Conflict from err

    async def add(
        self,
        appointment: Appointment,
        *,
        site_id: str,
        topic_id: str | None,
        message: str,
        now: datetime,
        actor: str = "agent",
        invite_agent: bool = False,
        transaction_id: str | None = None,
        outlook_event_id: str | None = None,
        join_url: str | None = None,
    ) -> StoredAppointment:
        """Insert an appointment; the database refuses a second active one on the slot.
        `transaction_id`, `outlook_event_id` and `join_url`: its calendar event, when the
        calendar names it at once (the embedded calendar).

        The overlap query covers intervals of other lengths on SQLite (whose writers are
        serialised); PostgreSQL's exclusion constraint enforces the same under concurrency.
        """
        _check_length(appointment.interval)
        if await self._overlapping(appointment.worker_id, appointment.interval):
            raise Conflict
        values: dict[str, Any] = {
            "id": appointment.id,
            "reference": new_reference("RDV"),
            "worker_id": appointment.worker_id,
            "agent_id": appointment.agent_id,
            "site_id": site_id,
            "start_at": appointment.start,
            "end_at": appointment.end,
            "mode": appointment.mode.value,
            "kind": appointment.kind.value,
            "status": appointment.status.value,
            "urgent": appointment.urgent,
            "invite_agent": invite_agent,
            "topic_enc": self._seal(topic_id or "", appointment_context("topic", appointment.id, appointment.agent_id)),
            "message_enc": self._seal(message, appointment_context("message", appointment.id, appointment.agent_id)),
            "notes_enc": self._seal("", appointment_context("notes", appointment.id, appointment.agent_id)),
            "transaction_id": transaction_id or new_id(),
            "outlook_event_id": outlook_event_id,
            "join_url": self._seal(join_url or "", join_url_context(appointment.id)),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        # Two plain INSERTs (not the ORM's flush): the row is in the database at once, and the
        # unique index (PostgreSQL: the exclusion constraint too) refuses a slot taken meanwhile.
        try:
            await self.session.execute(_INSERT, values)
        except IntegrityError as err:
            raise Conflict from err
        await self.session.execute(
            _INSERT_CHANGE,
            {
                "appointment_id": appointment.id,
                "at": now,
                "status": appointment.status.value,
                "start_at": appointment.start,
                "end_at": appointment.end,
                "actor": actor,
            },
        )
        return self._domain(AppointmentRow(**values))

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

    def _domain(self, row: Any) -> StoredAppointment:
        link = self._open(row.join_url, join_url_context(row.id)) if row.join_url else ""
        return to_domain(row, join_url=link or None)

    def _owned(self, row: Any) -> bool:
        """Whether the row's sealed values are bound to the agent it names (a row moved to
        another agent in the database is reported and treated as absent)."""
        if opens(self.keyring, row.topic_enc, appointment_context("topic", row.id, row.agent_id)):
            return True
        report("appointments")
        return False

    async def _row(self, appointment_id: str, *, agent_id: str | None = None) -> AppointmentRow:
        row = await self.session.get(AppointmentRow, appointment_id)
        if row is None or (agent_id is not None and row.agent_id != agent_id) or not self._owned(row):
            raise NotFound
        return row

    async def get(self, appointment_id: str) -> StoredAppointment:
        return self._domain(await self._row(appointment_id))

    async def by_reference(self, reference: str) -> StoredAppointment:
        row = await self.session.scalar(select(AppointmentRow).where(AppointmentRow.reference == reference))
        if row is None:
            raise NotFound
        return self._domain(row)

    async def by_outlook_event(self, event_id: str) -> StoredAppointment | None:
        row = await self.session.scalar(select(AppointmentRow).where(AppointmentRow.outlook_event_id == event_id))
        return None if row is None else self._domain(row)

    async def by_transaction(self, transaction_id: str) -> StoredAppointment | None:
        row = await self.session.scalar(select(AppointmentRow).where(AppointmentRow.transaction_id == transaction_id))
        return None if row is None else self._domain(row)

    async def upcoming_for_agent(self, agent_id: str, now: datetime) -> list[StoredAppointment]:
        rows = await self.session.execute(
            _UPCOMING_FOR_AGENT, {"agent": agent_id, "now": now, "earliest": now - LONGEST}
        )
        return [self._domain(r) for r in rows if self._owned(r)]  # plain rows: no ORM identity map to fill

    async def of_agent(self, agent_id: str) -> list[StoredAppointment]:
        """Every appointment of the agent still kept, past, cancelled and upcoming, by start
        (only those sealed for her: a row pointed at her in the database is not hers)."""
        rows = await self.session.scalars(
            select(AppointmentRow).where(AppointmentRow.agent_id == agent_id).order_by(AppointmentRow.start_at)
        )
        return [self._domain(r) for r in rows if self._owned(r)]

    async def detach(self, appointment_id: str, anonymous_agent_id: str, now: datetime) -> None:
        """Erase the agent's part of an appointment at her request: it is left to an anonymous
        agent (it stays counted in the reports), her message and the notes about her are emptied."""
        row = await self._row(appointment_id)
        topic = self._open(row.topic_enc, appointment_context("topic", row.id, row.agent_id))
        row.agent_id = anonymous_agent_id
        row.topic_enc = self._seal(topic, appointment_context("topic", row.id, anonymous_agent_id))
        row.message_enc = self._seal("", appointment_context("message", row.id, anonymous_agent_id))
        row.notes_enc = self._seal("", appointment_context("notes", row.id, anonymous_agent_id))
        row.invite_agent = False
        # Nothing dated by the erasure: the row keeps its times, and the anonymous agent takes
        # the booking's (a row left at the erasure's instant would name whose it was, through
        # the audit entry of that instant).
        await self.session.execute(
            update(AgentRow)
            .where(AgentRow.id == anonymous_agent_id)
            .values(created_at=row.created_at, updated_at=row.created_at, site_id=row.site_id)
        )
        await self.session.flush()

    async def active_between(self, worker_ids: Sequence[str], start: datetime, end: datetime) -> list[Appointment]:
        rows = await self.session.execute(
            _ACTIVE_BETWEEN,
            {"workers": list(worker_ids), "start": start, "end": end, "earliest": start - LONGEST},
        )
        return [to_appointment(r) for r in rows]

    async def for_worker(self, worker_id: str, start: datetime, end: datetime) -> list[StoredAppointment]:
        rows = await self.session.scalars(
            select(AppointmentRow)
            .where(
                AppointmentRow.worker_id == worker_id,
                *overlapping(start, end),
            )
            .order_by(AppointmentRow.start_at)
        )
        return [self._domain(r) for r in rows if self._owned(r)]

    async def set_status(
        self, appointment_id: str, status: AppointmentStatus, *, version: int, now: datetime, actor: str
    ) -> StoredAppointment:
        row = await self._row(appointment_id)
        if row.version != version:
            raise ConcurrentChange
        row.status, row.updated_at = status.value, now
        await self._flush_or_taken()
        self._history(row, now, actor)
        return self._domain(row)

    async def move(
        self, appointment_id: str, interval: Interval, *, version: int, now: datetime, actor: str
    ) -> StoredAppointment:
        """Move an appointment atomically: the old slot is released only if the new one is secured."""
        _check_length(interval)
        row = await self._row(appointment_id)
        if row.version != version:
            raise ConcurrentChange
        if row.status in ACTIVE_STATUSES and await self._overlapping(row.worker_id, interval, exclude=row.id):
            raise Conflict
        row.start_at, row.end_at, row.updated_at = interval.start, interval.end, now
        await self._flush_or_taken()
        self._history(row, now, actor)
        return self._domain(row)

    async def set_outlook(self, appointment_id: str, event_id: str, join_url: str | None, now: datetime) -> None:
        """One UPDATE (the outbox, once the event is written; nothing else of the row changes)."""
        done = await self.session.execute(
            _SET_OUTLOOK,
            {
                "appointment": appointment_id,
                "event": event_id,
                "url": self._seal(join_url or "", join_url_context(appointment_id)),
                "at": now,
            },
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound

    async def set_notes(self, appointment_id: str, notes: str, now: datetime) -> None:
        row = await self._row(appointment_id)
        row.notes_enc = self._seal(notes, appointment_context("notes", appointment_id, row.agent_id))
        row.updated_at = now
        await self.session.flush()

    async def details(self, appointment_id: str, *, grant: Grant) -> AppointmentDetails:
        """Decrypt who and why, with a grant (from the access policy, which audited the read)
        covering the appointment and its agent."""
        require(grant, "appointment", [appointment_id], (Purpose.CASE, Purpose.OWN, Purpose.OPERATOR))
        row = await self._row(appointment_id)
        agents = AgentRepository(self.session, self.keyring)
        topic = self._open(row.topic_enc, appointment_context("topic", row.id, row.agent_id))
        return AppointmentDetails(
            agent_name=await agents.name(row.agent_id, grant=grant),
            topic_id=topic or None,
            message=self._open(row.message_enc, appointment_context("message", row.id, row.agent_id)),
            phone=await agents.phone(row.agent_id, grant=grant),
            notes=self._open(row.notes_enc, appointment_context("notes", row.id, row.agent_id)),
        )

    async def report_rows(self, start: datetime, end: datetime, *, grant: Grant) -> list[ReportAppointment]:
        """Rows for aggregate reports: the topic is decrypted here and only counted by the caller
        (only the columns counted are read: a year is tens of thousands of rows)."""
        require_everything(grant, (Purpose.REPORT,))
        rows = await self.session.execute(
            select(
                AppointmentRow.id,
                AppointmentRow.agent_id,
                AppointmentRow.start_at,
                AppointmentRow.created_at,
                AppointmentRow.site_id,
                AppointmentRow.mode,
                AppointmentRow.kind,
                AppointmentRow.status,
                AppointmentRow.urgent,
                AppointmentRow.topic_enc,
            ).where(AppointmentRow.start_at >= start, AppointmentRow.start_at < end)
        )
        found = []
        for r in rows:
            try:
                topic = self.keyring.decrypt(r.topic_enc, appointment_context("topic", r.id, r.agent_id))
            except KeyringError:
                report("appointments")  # not counted: nothing vouches for it
                continue
            found.append(
                ReportAppointment(
                    start=r.start_at,
                    booked_at=r.created_at,
                    site_id=r.site_id,
                    mode=Mode(r.mode),
                    kind=DayKind(r.kind),
                    status=AppointmentStatus(r.status),
                    urgent=r.urgent,
                    topic_id=topic or None,
                )
            )
        return found

    async def history(self, appointment_id: str) -> list[tuple[datetime, str, str]]:
        rows = await self.session.scalars(
            select(AppointmentChangeRow)
            .where(AppointmentChangeRow.appointment_id == appointment_id)
            .order_by(AppointmentChangeRow.id)
        )
        return [(r.at, r.status, r.actor) for r in rows]
