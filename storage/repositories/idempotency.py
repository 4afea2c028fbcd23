"""Idempotency keys: the one effect a card form authorised, recorded with the effect."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select, update

from storage.models import IdempotencyRow
from storage.repositories.base import Repository


def _hashed(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class IdempotencyRepository(Repository):
    async def claim(self, key: str, kind: str, now: datetime) -> str | None:
        """Reserve `key` for this transaction's effect. Returns None when it is ours to do, or
        the reference recorded by the effect that already used it. A concurrent transaction
        holding the same key makes this one wait (PostgreSQL: the insert waits for the other
        transaction's outcome) or queue (SQLite's writer lock) until it ends, so exactly one
        effect is made."""
        hashed = _hashed(key)
        inserted = await self.session.execute(
            self._insert(IdempotencyRow)
            .values(key=hashed, kind=kind, ref="", created_at=now)
            .on_conflict_do_nothing(index_elements=[IdempotencyRow.key])
        )
        if inserted.rowcount == 1:  # type: ignore[attr-defined]
            return None
        found = await self.session.scalar(select(IdempotencyRow.ref).where(IdempotencyRow.key == hashed))
        return found or ""

    async def settle(self, key: str, ref: str) -> None:
        """Record what the effect made (in the same transaction as the effect)."""
        await self.session.execute(
            update(IdempotencyRow)
            .where(IdempotencyRow.key == _hashed(key))
            .values(ref=ref)
            .execution_options(synchronize_session=False)
        )
