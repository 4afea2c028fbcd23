"""Tables. Confidential texts live only in `*_enc` columns (see storage.crypto)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, MetaData, String, Text, false, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.db import UTCDateTime

ACTIVE_STATUSES = ("requested", "confirmed")
ACTIVE = "status IN ('requested', 'confirmed')"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


class WorkerRow(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    mailbox: Mapped[str] = mapped_column(String(320), default="")


class AgentRow(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lookup: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC of the Entra object id
    name_enc: Mapped[str] = mapped_column(Text, default="")
    phone_enc: Mapped[str] = mapped_column(Text, default="")
    email_enc: Mapped[str] = mapped_column(Text, default="")  # to invite her to the Outlook event
    conversation_enc: Mapped[str] = mapped_column(Text, default="")  # Bot Framework reference
    object_id_enc: Mapped[str] = mapped_column(Text, default="", server_default="")  # Entra object id, for hand-overs
    site_id: Mapped[str | None] = mapped_column(String(64))
    preferred_contact: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AppointmentRow(Base):
    __tablename__ = "appointments"
    __table_args__ = (
        # No double booking by construction: one active appointment per worker and start.
        Index(
            "uq_appointments_active_slot",
            "worker_id",
            "start_at",
            unique=True,
            sqlite_where=text(ACTIVE),
            postgresql_where=text(ACTIVE),
        ),
        Index("ix_appointments_agent_start", "agent_id", "start_at"),
        Index("ix_appointments_worker_start", "worker_id", "start_at"),
        Index("ix_appointments_start", "start_at"),  # reports of a period, the retention purge
        Index("ix_appointments_outlook_event", "outlook_event_id"),  # each Outlook event a sync reads
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    site_id: Mapped[str] = mapped_column(String(64))  # the agent's site, for aggregate reports
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    mode: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The agent asked, when booking, to be an attendee of the Outlook event (never by default).
    invite_agent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    topic_enc: Mapped[str] = mapped_column(Text, default="")
    message_enc: Mapped[str] = mapped_column(Text, default="")
    notes_enc: Mapped[str] = mapped_column(Text, default="")
    transaction_id: Mapped[str] = mapped_column(String(36), unique=True)  # Graph idempotency
    outlook_event_id: Mapped[str | None] = mapped_column(String(512))
    join_url: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class AppointmentChangeRow(Base):
    """Status history of an appointment (never the confidential texts)."""

    __tablename__ = "appointment_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    appointment_id: Mapped[str] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(20))  # agent, worker, outlook, system


class UrgentRequestRow(Base):
    __tablename__ = "urgent_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    site_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    description_enc: Mapped[str] = mapped_column(Text, default="")
    phone_enc: Mapped[str] = mapped_column(Text, default="")
    availability_enc: Mapped[str] = mapped_column(Text, default="")
    # She chose « Je suis en danger maintenant »: the most urgent (sealed "danger", or empty).
    danger_enc: Mapped[str] = mapped_column(Text, default="", server_default="")
    route: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"worker_id", "deadline"}]
    handler_id: Mapped[str | None] = mapped_column(String(64))  # responsible now
    step: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    reached_step: Mapped[int | None] = mapped_column(Integer)  # the last step whose handler was reached
    status: Mapped[str] = mapped_column(String(20), index=True)  # open, acknowledged, closed
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class AbsenceRow(Base):
    __tablename__ = "absences"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"), index=True)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(30))
    external_id: Mapped[str | None] = mapped_column(String(512))  # Outlook event id, "automatic-replies"
    replacement_id: Mapped[str | None] = mapped_column(ForeignKey("workers.id"))
    created_at: Mapped[datetime]
    reason_enc: Mapped[str] = mapped_column(Text, default="", server_default="")  # given by an operator


class CalendarEntryRow(Base):
    """The worker's calendar as the product knows it: local entries in the embedded default,
    a mirror of Outlook (busy blocks, days added by category) with Microsoft Graph."""

    __tablename__ = "calendar_entries"
    __table_args__ = (
        Index("ix_calendar_entries_worker_start", "worker_id", "start_at"),
        Index("uq_calendar_entries_external", "worker_id", "external_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    category: Mapped[str] = mapped_column(String(20))  # busy, permanence, retirement, extra
    external_id: Mapped[str | None] = mapped_column(String(512))
    appointment_id: Mapped[str | None] = mapped_column(ForeignKey("appointments.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime]


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_ready", "status", "next_attempt_at"),
        # The claim's order among pending messages, however many done ones the table keeps.
        Index(
            "ix_outbox_pending",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    aggregate_id: Mapped[str | None] = mapped_column(String(36), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))  # pending, done, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))  # an error code, never a payload
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class SyncStateRow(Base):
    __tablename__ = "sync_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class AuditRow(Base):
    """Append-only: who read confidential data or changed an appointment; never the data.

    Entries are chained: `mac` is a keyed hash of the entry, its position `seq` and the
    previous entry's `mac` (see storage.repositories.audit). Entries written before the
    chain existed have none."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[str] = mapped_column(String(36))
    operator: Mapped[str | None] = mapped_column(String(200))  # system user@host of an admin command
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    prev_mac: Mapped[str | None] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64))


class BotStateRow(Base):
    """Key/value documents for the bot's conversation state, with eTag concurrency."""

    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # a hash of the botbuilder key
    value_enc: Mapped[str] = mapped_column(Text)
    etag: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]


class IdempotencyRow(Base):
    """The one effect a card form authorised: its key (a hash of the form id) is unique, and is
    written in the same transaction as the effect, so a repeated submit finds what was done."""

    __tablename__ = "idempotency"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    ref: Mapped[str] = mapped_column(String(64))  # what was made or changed (an appointment or request id)
    created_at: Mapped[datetime] = mapped_column(index=True)
