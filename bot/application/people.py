"""The people the bot talks to: an agent recognised by her Entra object id (kept only as a
keyed hash), her conversation for proactive messages, and what she told us before (site,
phone) to prefill forms. Workers are recognised by the plan's object ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from booking.model import Worker
from bot.application.context import Context


@dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    site_id: str | None  # None: never chosen, or no longer a site of the plan
    phone: str


class People:
    def __init__(self, context: Context) -> None:
        self.context = context

    def worker(self, object_id: str) -> Worker | None:
        return self.context.worker_for_object_id(object_id)

    async def identify(
        self, *, object_id: str, name: str, conversation: dict[str, Any], email: str, now: datetime
    ) -> str:
        """The agent's id, created on first contact; her name, conversation and address refreshed."""
        async with self.context.store.unit_of_work() as uow:
            agent_id = await uow.agents.ensure(object_id, name, now)
            await uow.agents.set_conversation(agent_id, conversation, now)
            if email:
                await uow.agents.set_email(agent_id, email, now)
            await uow.commit()
        return agent_id

    async def profile(self, agent_id: str) -> Profile:
        async with self.context.store.unit_of_work(read_only=True) as uow:
            site_id, _ = await uow.agents.profile(agent_id)
            phone = await uow.agents.phone(agent_id)
        known = {s.id for s in self.context.directory.sites}
        return Profile(site_id=site_id if site_id in known else None, phone=phone)

    async def choose_site(self, agent_id: str, site_id: str, now: datetime) -> Profile:
        async with self.context.store.unit_of_work() as uow:
            await uow.agents.set_site(agent_id, self.context.site(site_id).id, now)
            phone = await uow.agents.phone(agent_id)
            await uow.commit()
        return Profile(site_id=site_id, phone=phone)

    async def remember_phone(self, agent_id: str, phone: str, now: datetime) -> None:
        async with self.context.store.unit_of_work() as uow:
            await uow.agents.set_phone(agent_id, phone, now)
            await uow.commit()
