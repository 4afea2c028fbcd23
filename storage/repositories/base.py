"""Shared by the repositories: the session, the keyring, ids and references."""

from __future__ import annotations

import secrets
import uuid
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from booking.model import Appointment, AppointmentStatus, DayKind, Mode
from booking.records import (
    StoredAppointment,
)
from storage.crypto import Keyring

REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U


def table(model: type[Any]) -> Table:
    """The model's table: a statement built on its columns runs as plain Core, without the ORM's
    compile and load steps (the hot reads and writes of a turn)."""
    return cast(Table, model.__table__)


def new_id() -> str:
    return str(uuid.uuid4())


def new_lookup() -> str:
    """A random value shaped like an agent lookup (a hex keyed hash) that no Entra id hashes to."""
    return secrets.token_hex(32)


def new_reference(prefix: str) -> str:
    return prefix + "-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


def to_appointment(row: Any) -> Appointment:
    """The appointment of a row, or of a result holding only its columns (a select of its columns)."""
    return Appointment(
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
    )


def to_domain(row: Any, *, join_url: str | None) -> StoredAppointment:
    """The stored appointment of an `AppointmentRow`, or of a row of its table's columns, with
    its meeting link opened (the column holds it sealed)."""
    return StoredAppointment(
        appointment=to_appointment(row),
        reference=row.reference,
        site_id=row.site_id,
        transaction_id=row.transaction_id,
        outlook_event_id=row.outlook_event_id,
        join_url=join_url,
        invite_agent=bool(row.invite_agent),
    )


class Repository:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    def _seal(self, value: str, context: str) -> str:
        # An empty value is encrypted too: whether a topic or a message was given is itself private.
        return self.keyring.encrypt(value, context)

    def _open(self, token: str, context: str) -> str:
        return self.keyring.decrypt(token, context) if token else ""

    def _insert(self, model: type[Any] | Table) -> Any:
        """An INSERT of the store's dialect, which knows ON CONFLICT (SQLite and PostgreSQL)."""
        if self.session.get_bind().dialect.name == "postgresql":
            return postgresql.insert(model)
        return sqlite.insert(model)
