"""Small JSON documents of sync cursors and subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
            self.session.add(SyncStateRow(key=key, value=value, updated_at=now))
        else:
            row.value, row.updated_at = value, now
        await self.session.flush()
