"""Migrations: upgrade from empty, downgrade step by step to nothing, upgrade again, on both databases."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storage.store import Store, alembic_config
from tests.storage.conftest import make_keyring


async def tables(store: Store) -> set[str]:
    async with store.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def columns(store: Store, table: str) -> set[str]:
    async with store.engine.connect() as connection:
        return {c["name"] for c in await connection.run_sync(lambda c: inspect(c).get_columns(table))}


async def test_upgrade_downgrade_upgrade(empty_database_url):
    store = Store(empty_database_url, make_keyring())
    script = ScriptDirectory.from_config(alembic_config(empty_database_url))
    head = script.get_current_head()
    history = [r.revision for r in script.walk_revisions()]  # head first
    try:
        assert await store.current_revision() is None
        await store.migrate()
        assert await store.current_revision() == head
        assert {"appointments", "agents", "outbox", "audit", "bot_state", "urgent_requests"} <= await tables(store)
        assert {"seq", "mac", "prev_mac", "operator"} <= await columns(store, "audit")
        assert "object_id_enc" in await columns(store, "agents")
        assert "idempotency" in await tables(store)
        for below in [*history[1:], None]:
            await store.migrate("-1", downgrade=True)
            assert await store.current_revision() == below
            if below == "0002":
                assert not {"seq", "mac", "prev_mac", "operator"} & await columns(store, "audit")
        assert await tables(store) <= {"alembic_version"}
        await store.migrate()
        assert await store.current_revision() == head
    finally:
        await store.dispose()
