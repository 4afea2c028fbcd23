"""botbuilder `Storage` on the product's database (encrypted, with eTag concurrency)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botbuilder.core import Storage

from booking.records import ConcurrentChange
from storage.store import Store


class DatabaseStorage(Storage):  # type: ignore[misc]
    """Values are dicts; their "e_tag" is checked on write ("*" or absent: last writer wins)."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__()
        self._store = store
        self._clock = clock

    async def read(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        async with self._store.unit_of_work(read_only=True) as uow:
            found = await uow.state.read(keys)
        return {key: {**value, "e_tag": etag} for key, (value, etag) in found.items()}

    async def write(self, changes: dict[str, Any]) -> None:
        if changes is None:
            raise ValueError("changes are required")
        if not changes:
            return
        async with self._store.unit_of_work() as uow:
            for key, change in changes.items():
                value = dict(change) if isinstance(change, dict) else dict(vars(change))
                etag = value.pop("e_tag", None)
                try:
                    await uow.state.write(key, value, etag, self._clock())
                except ConcurrentChange as err:
                    raise KeyError("eTag conflict") from err  # what botbuilder's storages raise
            await uow.commit()

    async def delete(self, keys: list[str]) -> None:
        async with self._store.unit_of_work() as uow:
            await uow.state.delete(keys)
            await uow.commit()
