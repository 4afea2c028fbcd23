"""The command line's data: a store seeded through the real use cases, for the report and audit commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from booking.model import DayKind, Worker, WorkerRole
from bot.runtime import open_store
from bot.settings import Settings
from tests.helpers.store import appointment


async def seed(settings: Settings) -> None:
    store = await open_store(settings)
    now = datetime(2027, 1, 4, 9, tzinfo=UTC)
    try:
        async with store.unit_of_work() as uow:
            await uow.workers.sync([Worker(id="ass", name="ASS", role=WorkerRole.TITULAR)])
            topics = ["budget"] * 6 + ["logement"] * 5 + ["retraite"] * 2
            for i, topic in enumerate(topics):
                agent = await uow.agents.ensure(f"oid-{i}", f"SENTINEL-Nom-{i}", now)
                start = datetime(2027, 2, 4, 8, tzinfo=UTC) + timedelta(hours=i)
                await uow.appointments.add(
                    appointment(agent, start, kind=DayKind.RETIREMENT if topic == "retraite" else DayKind.PERMANENCE),
                    site_id="vanves" if i % 2 else "lyon",
                    topic_id=topic,
                    message="SENTINEL-message",
                    now=now,
                )
            await uow.commit()
    finally:
        await store.dispose()
