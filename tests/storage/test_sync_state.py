"""The first value of a sync-state key written by two transactions at once (two replicas starting
on a new database record the plan they apply): both succeed, one value stays."""

from __future__ import annotations

import asyncio

from storage.store import Store
from tests.helpers.store import NOW


async def test_two_first_writes_of_a_key_at_once_both_succeed(store: Store):
    async def first_write(n: int) -> None:
        async with store.unit_of_work() as uow:
            await uow.sync_state.get("plan.identities")  # none yet (SQLite lets one writer at a time)
            await asyncio.sleep(0.05)  # the window the other transaction writes in
            await uow.sync_state.put("plan.identities", {"writer": n}, NOW)
            await uow.commit()

    await asyncio.gather(first_write(1), first_write(2))
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.sync_state.get("plan.identities") in ({"writer": 1}, {"writer": 2})
