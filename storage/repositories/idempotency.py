"""Idempotency keys: the one effect a card form authorised, recorded with the effect."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from storage.models import IdempotencyRow
from storage.repositories.base import Repository, table


def _hashed(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# On every confirmed effect: built once (the claim once per dialect, for its ON CONFLICT).
_CLAIM: dict[str, Any] = {}
_KEYS = table(IdempotencyRow).c
_REF = select(_KEYS.ref).where(_KEYS.key == bindparam("hashed"))
_SETTLE = update(table(IdempotencyRow)).where(_KEYS.key == bindparam("hashed")).values(ref=bindparam("made"))


class IdempotencyRepository(Repository):
    async def claim(self, key: str, kind: str, now: datetime) -> str | None:
        """Reserve `key` for this transaction's effect. Returns None when it is ours to do, or
        the reference recorded by the effect that already used it. A concurrent transaction
        holding the same key makes this one wait (PostgreSQL: the insert waits for the other
        transaction's outcome) or queue (SQLite's writer lock) until it ends, so exactly one
        effect is made."""
        hashed = _hashed(key)
        dialect = self.session.get_bind().dialect.name
        if dialect not in _CLAIM:
            _CLAIM[dialect] = (
                self._insert(table(IdempotencyRow))  # Core: a row count, no ORM bulk path
                .values(
                    key=bindparam("hashed"),
                    kind=bindparam("what"),
                    ref="",
                    created_at=bindparam("at", type_=IdempotencyRow.created_at.type),
                )
                .on_conflict_do_nothing(index_elements=[IdempotencyRow.key])
            )
        inserted = await self.session.execute(_CLAIM[dialect], {"hashed": hashed, "what": kind, "at": now})
        if inserted.rowcount == 1:  # type: ignore[attr-defined]
            return None
        found = await self.session.scalar(_REF, {"hashed": hashed})
        return found or ""

    async def settle(self, key: str, ref: str) -> None:
        """Record what the effect made (in the same transaction as the effect)."""
        await self.session.execute(_SETTLE, {"hashed": _hashed(key), "made": ref})
