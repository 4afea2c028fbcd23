"""An insider's database edits: cases and lookups moved from one agent to another."""

from __future__ import annotations

from sqlalchemy import text

from storage.store import Store
from tests.helpers.store import NOW

HER = "oid-alice"

HIS = "oid-mallory"


async def urgent(store: Store, agent_id: str) -> str:
    async with store.unit_of_work() as uow:
        request = await uow.urgent.add(
            agent_id=agent_id,
            site_id="vanves",
            route=[("ass", None)],
            description="SENTINEL-situation",
            phone="06 12 34 56 78",
            availability="le matin",
            now=NOW,
        )
        await uow.commit()
    return request.id


async def insider(store: Store, sql: str, **values: str) -> None:
    """A statement run straight on the database (no key involved)."""
    async with store.engine.begin() as connection:
        await connection.execute(text(sql), values)
