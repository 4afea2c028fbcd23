"""Issue 22, finding 8: one urgent request in hand per agent holds under concurrency on SQLite and
PostgreSQL alike: `serialize_agent` makes the check-then-insert of concurrent transactions
for the same agent run one after the other (other agents are not held up)."""

from __future__ import annotations

import asyncio

from storage.store import Store
from tests.helpers.store import NOW


async def file_once(store: Store, agent_id: str) -> bool:
    """The use case's shape: lock, look for an open request, add one if none; True if added."""
    async with store.unit_of_work() as uow:
        await uow.urgent.serialize_agent(agent_id)
        if any(r.status == "open" for r in await uow.urgent.of_agent(agent_id)):
            return False
        await asyncio.sleep(0.01)  # the window a second transaction would slip into
        await uow.urgent.add(
            agent_id=agent_id,
            site_id="vanves",
            route=[("ass", None)],
            description="",
            phone="",
            availability="",
            now=NOW,
        )
        await uow.commit()
        return True


async def test_concurrent_filings_for_one_agent_add_one_request(store):
    async with store.unit_of_work() as uow:
        first = await uow.agents.ensure("oid-urgent-1", "Agent", NOW)
        second = await uow.agents.ensure("oid-urgent-2", "Agent", NOW)
        await uow.commit()
    added = await asyncio.gather(*(file_once(store, first) for _ in range(8)), file_once(store, second))
    assert sum(added[:8]) == 1 and added[8] is True
    async with store.unit_of_work(read_only=True) as uow:
        assert len(await uow.urgent.of_agent(first)) == 1
