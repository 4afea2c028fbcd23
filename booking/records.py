"""What the stores give back and the errors they raise: plain values shared by the use cases
(which depend on them through protocols) and by the storage package (which builds them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from booking.absence import Absence
from booking.model import Appointment, Interval


class NotFound(Exception):
    """No such row (or not visible to the caller); carries no identifier."""


class Tampered(Exception):
    """A stored row does not match the owner its sealed values are bound to (a change made in
    the database, not by the service). Carries nothing about the row."""


class ConcurrentChange(Exception):
    """Someone else changed the row first (optimistic version or eTag mismatch)."""


class Conflict(Exception):
    """A uniqueness rule of the store refused the write (e.g. a second active appointment on
    the same time of the same worker). The use case decides what it means to the person."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredAppointment:
    appointment: Appointment
    reference: str
    site_id: str
    transaction_id: str
    outlook_event_id: str | None
    join_url: str | None
    invite_agent: bool = False  # she asked to be an attendee of the Outlook event

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
class StoredAbsence:
    id: str
    absence: Absence
    created_at: datetime


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
    due_at: datetime | None = None  # when this attempt was due (for the outbox lag)


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxEntry:
    """An outbox row as operators see it: never its payload (it may hold ids)."""

    id: int
    kind: str
    state: str  # scheduled, due, late, dead
    attempts: int
    due_at: datetime
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxHealth:
    due: int  # pending rows whose time has come (future reminders excluded)
    overdue: int  # pending rows due for longer than the grace period
    dead: int  # given up: need an operator (retry or drop)


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
    reached_step: int | None = None  # the last step whose handler was reached (Teams or e-mail)

    @property
    def reached(self) -> bool:
        """Whether the person now responsible was reached on some channel."""
        return self.reached_step == self.step


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


@dataclass(frozen=True, kw_only=True, slots=True)
class RetentionPeriods:
    """How long things are kept: appointments and urgent requests after they end (and agents
    after their last one), the audit trail, idle conversation state (form drafts)."""

    records: timedelta = timedelta(days=400)
    audit: timedelta = timedelta(days=1100)
    state: timedelta = timedelta(days=90)


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentRecord:
    """What the service keeps about an agent herself (decrypted for her own request only)."""

    id: str
    name: str
    email: str
    phone: str
    site_id: str | None
    has_conversation: bool
    created_at: datetime
    updated_at: datetime
