"""The unit of work: one transaction and the repositories inside it; rolls back unless committed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from booking.grants import Grant
from booking.records import (
    ConcurrentChange,
    Conflict,
)
from storage.crypto import Keyring
from storage.db import DURABLE, INLINE
from storage.repositories.absences import AbsenceRepository
from storage.repositories.agents import AgentRepository
from storage.repositories.appointments import AppointmentRepository
from storage.repositories.audit import AuditRepository
from storage.repositories.calendar import CalendarRepository
from storage.repositories.idempotency import IdempotencyRepository
from storage.repositories.outbox import OutboxRepository
from storage.repositories.retention import RetentionRepository
from storage.repositories.state import KeyValueRepository
from storage.repositories.sync_state import SyncStateRepository
from storage.repositories.urgent import UrgentRepository
from storage.repositories.workers import WorkerRepository


class UnitOfWork:
    """One transaction; rolls back unless `commit()` was called."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession] | Callable[[], AsyncSession],
        keyring: Keyring,
        *,
        lock: asyncio.Lock | None = None,
        durable: bool = True,
    ) -> None:
        self._factory = factory
        self._keyring = keyring
        self._lock = lock
        self._durable = durable

    async def __aenter__(self) -> UnitOfWork:
        if self._lock is not None:
            await self._lock.acquire()
        # The transaction begins with the first statement (SQLAlchemy's autobegin): one hand-off
        # to its greenlet fewer, and a unit of work that reads nothing touches no connection.
        self.session = self._factory()
        self._inline = INLINE.set(True)
        self._durability = DURABLE.set(self._durable)
        return self

    # The repositories, made when first used (a turn uses one or two of them).

    @functools.cached_property
    def workers(self) -> WorkerRepository:
        return WorkerRepository(self.session, self._keyring)

    @functools.cached_property
    def agents(self) -> AgentRepository:
        return AgentRepository(self.session, self._keyring)

    @functools.cached_property
    def appointments(self) -> AppointmentRepository:
        return AppointmentRepository(self.session, self._keyring)

    @functools.cached_property
    def urgent(self) -> UrgentRepository:
        return UrgentRepository(self.session, self._keyring)

    @functools.cached_property
    def absences(self) -> AbsenceRepository:
        return AbsenceRepository(self.session, self._keyring)

    @functools.cached_property
    def calendar(self) -> CalendarRepository:
        return CalendarRepository(self.session, self._keyring)

    @functools.cached_property
    def outbox(self) -> OutboxRepository:
        return OutboxRepository(self.session, self._keyring)

    @functools.cached_property
    def sync_state(self) -> SyncStateRepository:
        return SyncStateRepository(self.session, self._keyring)

    @functools.cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.session, self._keyring)

    @functools.cached_property
    def state(self) -> KeyValueRepository:
        return KeyValueRepository(self.session, self._keyring)

    @functools.cached_property
    def retention(self) -> RetentionRepository:
        return RetentionRepository(self.session, self._keyring)

    @functools.cached_property
    def dossiers(self) -> DossierRepository:
        return DossierRepository(self)

    @functools.cached_property
    def idempotency(self) -> IdempotencyRepository:
        return IdempotencyRepository(self.session, self._keyring)

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: a failure inside it rolls back only what it did."""
        async with self.session.begin_nested():
            yield

    async def commit(self) -> None:
        try:
            await self.audit.seal_pending()  # last: the chain's lock is held only briefly
            await self.session.commit()
        except StaleDataError as err:
            raise ConcurrentChange from err
        except IntegrityError as err:
            raise Conflict from err

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.session.close()  # rolls back what was not committed
        finally:
            DURABLE.reset(self._durability)
            INLINE.reset(self._inline)
            if self._lock is not None:
                self._lock.release()


class DossierRepository:
    """The sealed hand-over's rows: everything about the agents concerned, in and out."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def export(self, *, open_only: bool, now: datetime, grant: Grant) -> dict[str, Any]:
        from storage.dossiers import export_dossiers

        return await export_dossiers(self._uow, open_only=open_only, now=now, grant=grant)

    async def import_(
        self, payload: dict[str, Any], *, assign_to: str | None, now: datetime, grant: Grant
    ) -> dict[str, int]:
        from storage.dossiers import import_dossiers

        return await import_dossiers(self._uow, payload, assign_to=assign_to, now=now, grant=grant)
