"""Idempotency keys: the one effect a card form authorised, recorded with the effect."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage.models import IdempotencyRow
from storage.repositories.base import Repository


def _hashed(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class IdempotencyRepository(Repository):
    async def claim(self, key: str, kind: str, now: datetime) -> str | None:
        """Reserve `key` for this transaction's effect. Returns None when it is ours to do, or
        the reference recorded by the effect that already used it. A concurrent transaction
        holding the same key makes this one wait (PostgreSQL) or queue (SQLite's writer lock)
        until it ends, so exactly one effect is made."""
        hashed = _hashed(key)
        existing = await self.session.scalar(select(IdempotencyRow.ref).where(IdempotencyRow.key == hashed))
        if existing is not None:
            return existing
        try:
            async with self.session.begin_nested():
                self.session.add(IdempotencyRow(key=hashed, kind=kind, ref="", created_at=now))
                await self.session.flush()
        except IntegrityError:
            found = await self.session.scalar(select(IdempotencyRow.ref).where(IdempotencyRow.key == hashed))
            return found or ""
        return None

    async def settle(self, key: str, ref: str) -> None:
        """Record what the effect made (in the same transaction as the effect)."""
        row = await self.session.get(IdempotencyRow, _hashed(key))
        if row is not None:
            row.ref = ref
            await self.session.flush()
