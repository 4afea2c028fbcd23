"""Migrations: upgrade from empty, downgrade one step, upgrade again, on both databases."""

from __future__ import annotations

from sqlalchemy import inspect

from storage.store import Store
from tests.storage.conftest import make_keyring


async def tables(store: Store) -> set[str]:
    async with store.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def columns(store: Store, table: str) -> set[str]:
    async with store.engine.connect() as connection:
        return {c["name"] for c in await connection.run_sync(lambda c: inspect(c).get_columns(table))}


async def test_upgrade_downgrade_upgrade(empty_database_url):
    store = Store(empty_database_url, make_keyring())
    try:
        assert await store.current_revision() is None
        await store.migrate()
        assert await store.current_revision() == "0002"
        assert {"appointments", "agents", "outbox", "audit", "bot_state", "urgent_requests"} <= await tables(store)
        assert {"seq", "mac", "prev_mac", "operator"} <= await columns(store, "audit")
        assert "object_id_enc" in await columns(store, "agents")
        await store.migrate("-1", downgrade=True)
        assert await store.current_revision() == "0001"
        assert not {"seq", "mac", "prev_mac", "operator"} & await columns(store, "audit")
        await store.migrate("base", downgrade=True)
        assert await tables(store) <= {"alembic_version"}
        await store.migrate()
        assert await store.current_revision() == "0002"
    finally:
        await store.dispose()
