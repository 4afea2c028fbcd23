"""The people the bot talks to: an agent recognised by her Entra object id (kept only as a
keyed hash), her conversation for proactive messages, and what she told us before (site,
phone) to prefill forms. Workers are recognised by the plan's object ids."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from booking.model import Worker
from bot.application.access import own_grant
from bot.application.context import Context
from bot.application.ports import UnitOfWork
from bot.application.urgent import tell_waiting
from graph.provider import AppInstallation, CalendarError, CalendarProvider

log = logging.getLogger(__name__)

# (chat id, Entra object id) -> a conversation reference for that personal chat
ChatReference = Callable[[str, str], dict[str, Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    site_id: str | None  # None: never chosen, or no longer a site of the plan
    phone: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Reachability:
    """How a worker can be reached, without any personal data (the plan's worker id only)."""

    worker_id: str
    entra_identity: bool  # an Entra object id in the settings
    teams_conversation: bool  # a conversation reference is stored: proactive messages can reach her
    mailbox: bool  # an address for the neutral e-mail
    installation: str = ""  # what installing the app did at the last attempt (AppInstallation or an error code)


class People:
    def __init__(self, context: Context) -> None:
        self.context = context

    def worker(self, object_id: str) -> Worker | None:
        return self.context.worker_for_object_id(object_id)

    async def identify(
        self, *, object_id: str, name: str, conversation: dict[str, Any], email: str, now: datetime
    ) -> str:
        """The agent's id, created on first contact; her name, conversation and address refreshed."""
        worker = self.context.worker_for_object_id(object_id)
        async with self.context.store.unit_of_work() as uow:
            agent_id = await uow.agents.ensure(object_id, name, now)
            # A worker's first chat: requests nobody could be told of are waiting for her.
            first_chat = worker is not None and not await uow.agents.has_conversation(agent_id)
            await uow.agents.set_conversation(agent_id, conversation, now)
            if first_chat and worker is not None:
                await tell_waiting(self.context, uow, worker, now)
            if email:
                await uow.agents.set_email(agent_id, email, now)
            await uow.commit()
        return agent_id

    async def profile(self, agent_id: str) -> Profile:
        async with self.context.store.unit_of_work(read_only=True) as uow:
            site_id, _ = await uow.agents.profile(agent_id)
            phone = await uow.agents.phone(agent_id, grant=own_grant(agent_id))
        known = {s.id for s in self.context.directory.sites}
        return Profile(site_id=site_id if site_id in known else None, phone=phone)

    async def choose_site(self, agent_id: str, site_id: str, now: datetime) -> Profile:
        """Remember her site (her next « rendez-vous » goes straight to the form) and return the
        form's prefill. A preference, not something she confirmed: its transaction commits
        without waiting for the disk sync (`durable=False`)."""
        async with self.context.store.unit_of_work(durable=False) as uow:
            await uow.agents.set_site(agent_id, self.context.site(site_id).id, now)
            phone = await uow.agents.phone(agent_id, grant=own_grant(agent_id))
            await uow.commit()
        return Profile(site_id=site_id, phone=phone)

    # -- workers reachable before they are needed (issue 13) ----------------------------------

    async def reachability(self) -> list[Reachability]:
        """Per worker of the plan: Entra identity, stored Teams conversation, mailbox."""
        found = []
        async with self.context.store.unit_of_work(read_only=True) as uow:
            for worker in self.context.directory.workers:
                found.append(
                    Reachability(
                        worker_id=worker.id,
                        entra_identity=bool(worker.object_id),
                        teams_conversation=await self._has_conversation(uow, worker),
                        mailbox=bool(worker.mailbox),
                    )
                )
        return found

    @staticmethod
    async def _has_conversation(uow: UnitOfWork, worker: Worker) -> bool:
        if not worker.object_id:
            return False
        person = await uow.agents.find(worker.object_id)
        return person is not None and await uow.agents.has_conversation(person)

    async def make_reachable(
        self, *, provider: CalendarProvider, now: datetime, chat_reference: ChatReference
    ) -> list[Reachability]:
        """Install the Teams app for every worker with an Entra identity (a personal chat with
        the bot then exists, and Teams tells the bot about it), and keep a conversation reference
        for her, from the chat Graph names when the bot has none yet. At start-up and daily."""
        result = []
        for worker in self.context.directory.workers:
            installation = ""
            if worker.object_id:
                installation = await self._install(provider, worker)
                if installation in (AppInstallation.INSTALLED, AppInstallation.ALREADY_INSTALLED):
                    await self._keep_chat(provider, worker, now, chat_reference)
            async with self.context.store.unit_of_work(read_only=True) as uow:
                conversation = await self._has_conversation(uow, worker)
            result.append(
                Reachability(
                    worker_id=worker.id,
                    entra_identity=bool(worker.object_id),
                    teams_conversation=conversation,
                    mailbox=bool(worker.mailbox),
                    installation=installation,
                )
            )
            log.info(
                "worker reachability of %s: %s",
                worker.id,
                installation or "no_identity",
                extra={"event": "people.reachability", "code": installation or "no_identity", "worker": worker.id},
            )
        return result

    @staticmethod
    async def _install(provider: CalendarProvider, worker: Worker) -> str:
        try:
            return str(await provider.install_app(worker.object_id))
        except CalendarError as err:
            return err.code

    async def _keep_chat(
        self, provider: CalendarProvider, worker: Worker, now: datetime, chat_reference: ChatReference
    ) -> None:
        async with self.context.store.unit_of_work(read_only=True) as uow:
            if await self._has_conversation(uow, worker):
                return  # Teams told the bot (installationUpdate, conversationUpdate or a message)
        try:
            chat_id = await provider.app_chat_id(worker.object_id)
        except CalendarError:
            return  # tried again tomorrow; the installation's own activity may arrive meanwhile
        if not chat_id:
            return
        async with self.context.store.unit_of_work() as uow:
            person = await uow.agents.ensure(worker.object_id, worker.name, now)
            if not await uow.agents.has_conversation(person):
                await uow.agents.set_conversation(person, chat_reference(chat_id, worker.object_id), now)
                await tell_waiting(self.context, uow, worker, now)
            await uow.commit()
