"""An agent with past and upcoming appointments and a witness, for the rights commands (`agent export|erase`)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

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


@pytest.fixture
def settings(tmp_path, monkeypatch, pinned_service):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PERMANENCE_KEY_FILE", str(tmp_path / "config" / "keys.json"))
    settings = Settings(_env_file=None)
    asyncio.run(seed(settings, pinned_service))
    return settings
