"""Urgent requests: route, escalation, acknowledgement, encrypted situation."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, text, update

from booking.grants import Grant, Purpose, require
from booking.records import (
    ConcurrentChange,
    NotFound,
    UrgentRequest,
)
from booking.reports import ReportUrgent
from storage.models import (
    AgentRow,
    UrgentRequestRow,
)
from storage.repositories.base import Repository, new_id, new_reference
from storage.sealing import opens, report, urgent_context

MAX_MERGED = 8000  # a situation with its repeats added: four full forms


class UrgentRepository(Repository):
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
            reached_step=row.reached_step,
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
        danger: bool = False,
    ) -> UrgentRequest:
        request_id = new_id()
        row = UrgentRequestRow(
            id=request_id,
            reference=new_reference("URG"),
            agent_id=agent_id,
            site_id=site_id,
            received_at=now,
            description_enc=self._seal(description, urgent_context("description", request_id, agent_id)),
            phone_enc=self._seal(phone, urgent_context("phone", request_id, agent_id)),
            availability_enc=self._seal(availability, urgent_context("availability", request_id, agent_id)),
            danger_enc=self._seal("danger" if danger else "", urgent_context("danger", request_id, agent_id)),
            route=[{"worker_id": w, "deadline": d.isoformat() if d else None} for w, d in route],
            handler_id=route[0][0],
            step=0,
            status="open",
        )
        self.session.add(row)
        await self.session.flush()
        return self._domain(row)

    def _owned(self, row: UrgentRequestRow) -> bool:
        """Whether the request's sealed values are bound to the agent it names (a request moved
        to another agent in the database is reported and treated as absent)."""
        if opens(self.keyring, row.description_enc, urgent_context("description", row.id, row.agent_id)):
            return True
        report("urgent_requests")
        return False

    async def _row(self, request_id: str) -> UrgentRequestRow:
        row = await self.session.get(UrgentRequestRow, request_id)
        if row is None or not self._owned(row):
            raise NotFound
        return row

    async def get(self, request_id: str) -> UrgentRequest:
        return self._domain(await self._row(request_id))

    async def open_requests(self) -> list[UrgentRequest]:
        rows = await self.session.scalars(
            select(UrgentRequestRow).where(UrgentRequestRow.status == "open").order_by(UrgentRequestRow.received_at)
        )
        return [self._domain(r) for r in rows if self._owned(r)]

    async def of_agent(self, agent_id: str) -> list[UrgentRequest]:
        """Her requests (only those sealed for her: a row pointed at her in the database is not hers)."""
        rows = await self.session.scalars(
            select(UrgentRequestRow).where(UrgentRequestRow.agent_id == agent_id).order_by(UrgentRequestRow.received_at)
        )
        return [self._domain(r) for r in rows if self._owned(r)]

    async def detach(self, request_id: str, anonymous_agent_id: str) -> None:
        """Erase the agent's part of a request at her request: left to an anonymous agent (still
        counted), her situation, phone and availability emptied."""
        row = await self._row(request_id)
        row.agent_id = anonymous_agent_id
        row.description_enc = self._seal("", urgent_context("description", request_id, anonymous_agent_id))
        row.phone_enc = self._seal("", urgent_context("phone", request_id, anonymous_agent_id))
        row.availability_enc = self._seal("", urgent_context("availability", request_id, anonymous_agent_id))
        row.danger_enc = self._seal("", urgent_context("danger", request_id, anonymous_agent_id))
        # The anonymous agent dated by the request, not by the erasure (see appointments' detach).
        await self.session.execute(
            update(AgentRow)
            .where(AgentRow.id == anonymous_agent_id)
            .values(created_at=row.received_at, updated_at=row.received_at, site_id=row.site_id)
        )
        await self.session.flush()

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

    async def mark_reached(self, request_id: str, step: int) -> bool:
        """Record that the handler of `step` was reached; True only the first time, and only
        while the request is open at that step (a second channel or replica changes nothing)."""
        result = await self.session.execute(
            update(UrgentRequestRow)
            .where(
                UrgentRequestRow.id == request_id,
                UrgentRequestRow.status == "open",
                UrgentRequestRow.step == step,
                or_(UrgentRequestRow.reached_step.is_(None), UrgentRequestRow.reached_step != step),
            )
            .values(reached_step=step)
            .execution_options(synchronize_session="fetch")
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def report_rows(self, start: datetime, end: datetime) -> list[ReportUrgent]:
        rows = await self.session.scalars(
            select(UrgentRequestRow).where(UrgentRequestRow.received_at >= start, UrgentRequestRow.received_at < end)
        )
        return [
            ReportUrgent(received_at=r.received_at, acknowledged_at=r.acknowledged_at, site_id=r.site_id) for r in rows
        ]

    async def serialize_agent(self, agent_id: str) -> None:
        """Until the transaction ends, no other transaction files an urgent request for this
        agent: a transaction-scoped advisory lock on PostgreSQL (keyed by a hash of the id, so
        that the lock table names nobody); SQLite writers are serialised by BEGIN IMMEDIATE."""
        if self.session.get_bind().dialect.name == "postgresql":
            digest = hashlib.sha256(f"permanence.urgent.agent|{agent_id}".encode()).digest()
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:k)"), {"k": int.from_bytes(digest[:8], "big", signed=True)}
            )

    async def add_to(self, request_id: str, *, description: str, phone: str, availability: str, grant: Grant) -> None:
        """A repeat of an urgent request by the same agent: her new words are added to the
        situation (up to `MAX_MERGED` characters), a new phone or availability replaces the old."""
        old_description, old_phone, old_availability = await self.details(request_id, grant=grant)
        row = await self.session.get(UrgentRequestRow, request_id)
        if row is None:
            raise NotFound
        if description and description not in old_description:
            merged = f"{old_description}\n\n{description}" if old_description else description
            row.description_enc = self._seal(
                merged[:MAX_MERGED], urgent_context("description", request_id, row.agent_id)
            )
        if phone and phone != old_phone:
            row.phone_enc = self._seal(phone, urgent_context("phone", request_id, row.agent_id))
        if availability and availability != old_availability:
            row.availability_enc = self._seal(availability, urgent_context("availability", request_id, row.agent_id))
        await self.session.flush()

    async def danger(self, request_id: str, *, grant: Grant) -> bool:
        """Whether she declared an immediate danger, decrypted with a grant covering the request."""
        require(grant, "urgent", [request_id], (Purpose.CASE, Purpose.OWN, Purpose.OPERATOR))
        row = await self._row(request_id)
        if not row.danger_enc:  # a request filed before the choice existed
            return False
        return self._open(row.danger_enc, urgent_context("danger", request_id, row.agent_id)) == "danger"

    async def details(self, request_id: str, *, grant: Grant) -> tuple[str, str, str]:
        """(description, phone, availability), decrypted with a grant covering the request."""
        require(grant, "urgent", [request_id], (Purpose.CASE, Purpose.OWN, Purpose.OPERATOR))
        row = await self._row(request_id)
        return (
            self._open(row.description_enc, urgent_context("description", request_id, row.agent_id)),
            self._open(row.phone_enc, urgent_context("phone", request_id, row.agent_id)),
            self._open(row.availability_enc, urgent_context("availability", request_id, row.agent_id)),
        )
