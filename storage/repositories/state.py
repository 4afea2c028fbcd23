"""Conversation state with eTags (behind botbuilder's Storage in the Teams adapter)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from booking.records import (
    ConcurrentChange,
)
from storage.models import (
    BotStateRow,
)
from storage.repositories.base import Repository, table

_TABLE = table(BotStateRow)
_MANY = select(_TABLE.c.key, _TABLE.c.value_enc, _TABLE.c.etag)
_ONE = _MANY.where(_TABLE.c.key == bindparam("key"))
# Every turn that changed its state: built once (its SQL compiled once per dialect).
_BUMP = (
    update(_TABLE)
    .where(and_(_TABLE.c.key == bindparam("hashed"), _TABLE.c.etag == bindparam("old")))
    .values(
        value_enc=bindparam("sealed", type_=_TABLE.c.value_enc.type),
        etag=bindparam("new", type_=_TABLE.c.etag.type),
        updated_at=bindparam("at", type_=_TABLE.c.updated_at.type),
    )
)


class KeyValueRepository(Repository):
    """Documents with eTags, for the bot's conversation state (encrypted: it holds form input)."""

    def _key(self, key: str) -> str:
        return self.keyring.lookup("state:" + key)

    async def read(self, keys: Sequence[str]) -> dict[str, tuple[dict[str, Any], str]]:
        hashed = {self._key(k): k for k in keys}
        if not hashed:
            return {}
        if len(hashed) == 1:  # every turn: one prepared statement, plain rows, no ORM identity map
            rows = await self.session.execute(_ONE, {"key": next(iter(hashed))})
        else:
            rows = await self.session.execute(_MANY.where(_TABLE.c.key.in_(hashed)))
        result = {}
        for key, value_enc, etag in rows:
            value = json.loads(self.keyring.decrypt(value_enc, f"bot_state:{key}"))
            result[hashed[key]] = (value, str(etag))
        return result

    async def write(self, key: str, value: dict[str, Any], etag: str | None, now: datetime) -> str:
        """Write a document; with an eTag other than '*', only if nobody wrote since."""
        hashed = self._key(key)
        sealed = self.keyring.encrypt(json.dumps(value, sort_keys=True, default=str), f"bot_state:{hashed}")
        if etag is not None and etag.isdigit():  # the usual case: one statement, no read first
            result = await self.session.execute(
                _BUMP, {"hashed": hashed, "old": int(etag), "sealed": sealed, "new": int(etag) + 1, "at": now}
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return str(int(etag) + 1)
        row = await self.session.get(BotStateRow, hashed, with_for_update=True)
        if row is None:
            if etag not in (None, "*", ""):
                raise ConcurrentChange
            try:
                async with self.session.begin_nested():
                    self.session.add(BotStateRow(key=hashed, value_enc=sealed, etag=1, updated_at=now))
            except IntegrityError as err:
                raise ConcurrentChange from err
            return "1"
        if etag not in (None, "*", "") and etag != str(row.etag):
            raise ConcurrentChange
        result = await self.session.execute(
            update(BotStateRow)
            .where(and_(BotStateRow.key == hashed, BotStateRow.etag == row.etag))
            .values(value_enc=sealed, etag=row.etag + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentChange
        return str(row.etag + 1)

    async def delete(self, keys: Sequence[str]) -> None:
        await self.session.execute(delete(BotStateRow).where(BotStateRow.key.in_([self._key(k) for k in keys])))
