"""An agent with past and upcoming appointments and a witness, for the rights commands (`agent export|erase`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from booking.model import Mode, Worker, WorkerRole
from bot.application.rights import conversation_state_key
from bot.runtime import open_store
from bot.settings import Settings
from tests.helpers.store import appointment

OID = "cccccccc-0000-0000-0000-000000000001"

OTHER = "cccccccc-0000-0000-0000-000000000002"

REFERENCE = {"channelId": "msteams", "conversation": {"id": "a:conversation-of-claire"}}


async def seed(settings: Settings, now: datetime) -> None:
    """Claire: one appointment long past and one far ahead; Dan: one appointment."""
    store = await open_store(settings)
    try:
        async with store.unit_of_work() as uow:
            await uow.workers.sync([Worker(id="ass", name="ASS", role=WorkerRole.TITULAR)])
            claire = await uow.agents.ensure(OID, "Claire SENTINEL", now)
            await uow.agents.set_phone(claire, "06 11 22 33 44", now)
            await uow.agents.set_conversation(claire, REFERENCE, now)
            await uow.state.write(conversation_state_key(REFERENCE) or "", {"agent_id": claire}, None, now)
            dan = await uow.agents.ensure(OTHER, "Dan TÉMOIN", now)
            for agent, start, message in (
                (claire, now - timedelta(days=30), "SENTINEL-past"),
                (claire, now + timedelta(days=30), "SENTINEL-upcoming"),
                (dan, now + timedelta(days=31), "SENTINEL-dan"),
            ):
                await uow.appointments.add(
                    appointment(agent, start, mode=Mode.PHONE),
                    site_id="lyon",
                    topic_id="budget",
                    message=message,
                    now=now,
                )
            await uow.commit()
    finally:
        await store.dispose()
