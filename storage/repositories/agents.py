"""Agents: found by a keyed hash of their Entra id; name, phone, e-mail and conversation encrypted,
read only with a grant (`booking.grants`) that covers the agent."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from booking.grants import Grant, Purpose, require
from booking.records import (
    AgentRecord,
    NotFound,
)
from storage.crypto import KeyringError
from storage.models import (
    AgentRow,
)
from storage.repositories.base import Repository, new_id, new_lookup, table
from storage.sealing import object_id_context, report

PERSONAL = (Purpose.CASE, Purpose.OWN, Purpose.OPERATOR)  # name, phone
CONTACT = (Purpose.DELIVERY, Purpose.OWN, Purpose.OPERATOR)  # e-mail, conversation reference


_AGENTS = table(AgentRow).c
_SET_SITE, _SET_PHONE = (
    update(table(AgentRow))
    .where(_AGENTS.id == bindparam("agent"))
    .values({column: bindparam("value"), _AGENTS.updated_at: bindparam("at", type_=_AGENTS.updated_at.type)})
    for column in (_AGENTS.site_id, _AGENTS.phone_enc)
)


class AgentRepository(Repository):
    def _sealed_object_id(self, agent_id: str, lookup: str, token: str, object_id: str) -> str:
        """The Entra id sealed on the profile found by `object_id`'s lookup: `object_id` itself, or
        "" for a profile recorded before ids were kept (to be filled in now). Anything else (a
        lookup copied onto another profile, a seal moved or removed) is reported and refused:
        that profile is not hers, and nothing of it is shown or redirected."""
        try:
            sealed = self.keyring.decrypt(token, object_id_context(agent_id, lookup)) if token else None
        except KeyringError:
            sealed = None
        if sealed not in (object_id, ""):
            raise report("agents")
        return sealed

    async def find(self, object_id: str) -> str | None:
        """The agent whose profile is sealed for this Entra id; None for an unknown one.
        Raises `Tampered` when the profile found does not hold her sealed id."""
        lookup = self.keyring.lookup(object_id)
        row = (
            await self.session.execute(select(AgentRow.id, AgentRow.object_id_enc).where(AgentRow.lookup == lookup))
        ).first()
        if row is None:
            return None
        self._sealed_object_id(row.id, lookup, row.object_id_enc, object_id)
        return str(row.id)

    async def ensure(self, object_id: str, name: str, now: datetime) -> str:
        """The agent's id, created on first contact; the name is refreshed and kept encrypted.
        Raises `Tampered` when the profile found does not hold her sealed id."""
        lookup = self.keyring.lookup(object_id)
        row = await self.session.scalar(select(AgentRow).where(AgentRow.lookup == lookup))
        if row is None:
            row = AgentRow(id=new_id(), lookup=lookup, created_at=now, updated_at=now)
            # Whether she gave a phone, or Teams an address or a name, is private: sealed empty values.
            row.phone_enc = self._seal("", f"agents.phone:{row.id}")
            row.email_enc = self._seal("", f"agents.email:{row.id}")
            row.name_enc = self._seal("", f"agents.name:{row.id}")
            self.session.add(row)
            sealed = ""
        else:
            sealed = self._sealed_object_id(row.id, lookup, row.object_id_enc, object_id)
        if not sealed:  # kept (encrypted) to recognise her, and so that a hand-over can carry it
            row.object_id_enc = self._seal(object_id, object_id_context(row.id, lookup))
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

    async def _set(self, statement: Any, agent_id: str, value: str, now: datetime) -> None:
        """One UPDATE, without loading the row (an agent's profile changes inside a booking)."""
        done = await self.session.execute(statement, {"agent": agent_id, "value": value, "at": now})
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound

    async def set_site(self, agent_id: str, site_id: str, now: datetime) -> None:
        await self._set(_SET_SITE, agent_id, site_id, now)

    async def set_phone(self, agent_id: str, phone: str, now: datetime) -> None:
        await self._set(_SET_PHONE, agent_id, self._seal(phone, f"agents.phone:{agent_id}"), now)

    async def set_email(self, agent_id: str, email: str, now: datetime) -> None:
        row = await self._get(agent_id)
        row.email_enc, row.updated_at = self._seal(email, f"agents.email:{agent_id}"), now

    async def email(self, agent_id: str, *, grant: Grant) -> str:
        require(grant, "agent", [agent_id], CONTACT)
        row = await self._get(agent_id)
        return self._open(row.email_enc, f"agents.email:{agent_id}")

    async def set_conversation(self, agent_id: str, reference: dict[str, Any], now: datetime) -> None:
        row = await self._get(agent_id)
        row.conversation_enc = self._seal(json.dumps(reference, sort_keys=True), f"agents.conversation:{agent_id}")
        row.updated_at = now

    async def conversation(self, agent_id: str, *, grant: Grant) -> dict[str, Any] | None:
        require(grant, "agent", [agent_id], CONTACT)
        row = await self._get(agent_id)
        if not row.conversation_enc:
            return None
        value: dict[str, Any] = json.loads(self._open(row.conversation_enc, f"agents.conversation:{agent_id}"))
        return value

    async def has_conversation(self, agent_id: str) -> bool:
        """Whether a conversation reference is stored (read without decrypting it)."""
        row = await self._get(agent_id)
        return bool(row.conversation_enc)

    async def name(self, agent_id: str, *, grant: Grant) -> str:
        require(grant, "agent", [agent_id], PERSONAL)
        row = await self._get(agent_id)
        return self._open(row.name_enc, f"agents.name:{agent_id}")

    async def phone(self, agent_id: str, *, grant: Grant) -> str:
        require(grant, "agent", [agent_id], PERSONAL)
        row = await self._get(agent_id)
        return self._open(row.phone_enc, f"agents.phone:{agent_id}")

    async def record(self, agent_id: str, *, grant: Grant) -> AgentRecord:
        """Everything kept about her, decrypted: only for her own request (access and erasure),
        which the caller audits."""
        require(grant, "agent", [agent_id], (Purpose.OWN, Purpose.OPERATOR))
        row = await self._get(agent_id)
        return AgentRecord(
            id=row.id,
            name=self._open(row.name_enc, f"agents.name:{agent_id}"),
            email=self._open(row.email_enc, f"agents.email:{agent_id}"),
            phone=self._open(row.phone_enc, f"agents.phone:{agent_id}"),
            site_id=row.site_id,
            has_conversation=bool(row.conversation_enc),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def anonymous(self, now: datetime) -> str:
        """A new agent that is nobody (no name, no Entra id, a lookup no id hashes to): what an
        erased appointment or request is left attached to, one each, so that they stay counted
        in the reports without linking to anyone nor to each other."""
        row = AgentRow(id=new_id(), lookup=new_lookup(), created_at=now, updated_at=now)
        # Shaped like a live profile: every value sealed (empty), none left blank to single it out.
        row.object_id_enc = self._seal("", object_id_context(row.id, row.lookup))
        row.name_enc = self._seal("", f"agents.name:{row.id}")
        row.email_enc = self._seal("", f"agents.email:{row.id}")
        row.phone_enc = self._seal("", f"agents.phone:{row.id}")
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def erase(self, agent_id: str) -> None:
        """Delete the agent: name, Entra id, e-mail, phone, site and conversation (the caller
        detached or erased her appointments and requests first)."""
        await self.session.execute(delete(AgentRow).where(AgentRow.id == agent_id))
