"""Small JSON documents of sync cursors and subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.models import (
    SyncStateRow,
)
from storage.repositories.base import Repository


class SyncStateRepository(Repository):
    async def get(self, key: str) -> dict[str, Any] | None:
        row = await self.session.get(SyncStateRow, key)
        return None if row is None else dict(row.value)

    async def put(self, key: str, value: dict[str, Any], now: datetime) -> None:
        row = await self.session.get(SyncStateRow, key)
        if row is None:
            # Two replicas starting on a new database may both write the first value: the later
            # one updates it rather than failing on the key.
            insert = postgresql_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
            statement = insert(SyncStateRow).values(key=key, value=value, updated_at=now)
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[SyncStateRow.key],
                    set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
                )
            )
        else:
            row.value, row.updated_at = value, now
        await self.session.flush()
