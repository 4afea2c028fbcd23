"""The append-only audit trail, chained by a keyed hash so that tampering shows.

Each entry carries its position `seq`, the previous entry's MAC and its own MAC: an HMAC
(key derived from the lookup key, see `Keyring.audit_key`) over the position, the fields and
the previous MAC. Editing, deleting or reordering an entry breaks the chain from there on;
whoever can write to the database cannot recompute it without the key. Entries are chained
when the unit of work commits, under a lock (a transaction-scoped advisory lock on
PostgreSQL, the single writer on SQLite), so concurrent writers never fork the chain.
Retention deletes a prefix of the chain and keeps a signed checkpoint of the last deleted
MAC, so what remains still verifies. Removing entries at the very end of the chain cannot be
told from their never having been written: `verify` reports the head (position and MAC) so
that it can be noted outside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Keyring
from storage.models import AuditRow, SyncStateRow
from storage.repositories.base import Repository, table

GENESIS = "0" * 64
CHECKPOINT_KEY = "audit.checkpoint"
LOCK_KEY = int.from_bytes(hashlib.sha256(b"permanence.audit.chain").digest()[:8], "big", signed=True)


class AuditEntry(NamedTuple):
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    operator: str | None
    seq: int | None  # None: written before the chain existed


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainReport:
    ok: bool
    checked: int  # chained entries read
    legacy: int  # entries from before the chain (not protected)
    first_bad: int | None  # the position (seq) where the chain first breaks
    reason: str | None
    head_seq: int  # the last position, to note outside the database
    head_mac: str
    checkpoint_seq: int  # positions up to this one were purged by retention


# Every commit that audited something: built once.
_AUDIT = table(AuditRow).c
_HEAD = select(_AUDIT.seq, _AUDIT.mac).where(_AUDIT.seq.is_not(None)).order_by(_AUDIT.seq.desc()).limit(1)
_APPEND = insert(table(AuditRow))
_SEALED_COLUMNS = ("at", "actor", "action", "subject_type", "subject_id", "operator", "seq", "prev_mac", "mac")


def _mac(key: bytes, row: AuditRow, previous: str) -> str:
    fields = [
        row.seq,
        row.at.astimezone(UTC).isoformat(),
        row.actor,
        row.action,
        row.subject_type,
        row.subject_id,
        row.operator or "",
        previous,
    ]
    return hmac.new(key, json.dumps(fields, separators=(",", ":")).encode(), hashlib.sha256).hexdigest()


def _checkpoint_signature(key: bytes, seq: int, mac: str) -> str:
    return hmac.new(key, f"checkpoint|{seq}|{mac}".encode(), hashlib.sha256).hexdigest()


class AuditRepository(Repository):
    """Append-only: entries are never updated; only retention deletes, as a chain prefix."""

    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        super().__init__(session, keyring)
        self._pending: list[AuditRow] = []

    async def record(
        self,
        *,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str,
        now: datetime,
        operator: str | None = None,
    ) -> None:
        """Append an entry; it is chained and written when the unit of work commits."""
        self._pending.append(
            AuditRow(
                at=now, actor=actor, action=action, subject_type=subject_type, subject_id=subject_id, operator=operator
            )
        )

    async def _lock(self) -> None:
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        # SQLite: writers already hold the database's write lock from BEGIN IMMEDIATE; and a
        # read-only unit of work that appends anyway meets the unique `seq` if it raced.

    async def _checkpoint(self) -> tuple[int, str, bool]:
        """(last purged position, its MAC, whether the checkpoint's signature holds)."""
        row = await self.session.get(SyncStateRow, CHECKPOINT_KEY)
        if row is None:
            return 0, GENESIS, True
        seq, mac = int(row.value.get("seq", 0)), str(row.value.get("mac", ""))
        valid = hmac.compare_digest(
            str(row.value.get("signature", "")), _checkpoint_signature(self.keyring.audit_key, seq, mac)
        )
        return seq, mac, valid

    async def _head(self) -> tuple[int, str]:
        last = (await self.session.execute(_HEAD)).first()
        if last is not None and last.seq is not None and last.mac is not None:
            return last.seq, last.mac
        seq, mac, _ = await self._checkpoint()
        return seq, mac

    async def seal_pending(self) -> None:
        """Chain and write the entries recorded in this unit of work (called at commit, so
        the lock is held only for this last step)."""
        if not self._pending:
            return
        await self._lock()
        seq, previous = await self._head()
        key = self.keyring.audit_key
        sealed = []
        for row in self._pending:
            seq += 1
            row.seq, row.prev_mac = seq, previous
            row.mac = previous = _mac(key, row, previous)
            sealed.append({column: getattr(row, column) for column in _SEALED_COLUMNS})
        self._pending.clear()
        await self.session.execute(_APPEND, sealed)  # plain INSERTs, in chain order

    async def entries(self, subject_id: str | None = None, *, since: datetime | None = None) -> list[AuditEntry]:
        """Entries in chain order (those from before the chain first), optionally about one
        subject or from a moment on."""
        await self.seal_pending()
        query = select(AuditRow).order_by(AuditRow.seq.is_not(None), AuditRow.seq, AuditRow.id)
        if subject_id is not None:
            query = query.where(AuditRow.subject_id == subject_id)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        return [
            AuditEntry(r.at, r.actor, r.action, r.subject_type, r.subject_id, r.operator, r.seq)
            for r in await self.session.scalars(query)
        ]

    async def verify(self) -> ChainReport:
        """Walk the chain from the retention checkpoint; report the first broken position."""
        key = self.keyring.audit_key
        start, previous, signed = await self._checkpoint()
        rows = list(await self.session.scalars(select(AuditRow).order_by(AuditRow.seq, AuditRow.id)))
        chained = [r for r in rows if r.seq is not None]
        unchained = [r for r in rows if r.seq is None]
        first_chained_id = min((r.id for r in chained), default=None)
        checked, expected, failure = 0, start + 1, None
        if not signed:
            failure = (start, "the retention checkpoint was altered")
        elif first_chained_id is not None and any(r.id > first_chained_id for r in unchained):
            late = min(r.id for r in unchained if r.id > first_chained_id)
            position = max((r.seq or 0 for r in chained if r.id < late), default=start) + 1
            failure = (position, "an entry without a MAC was added after the chain started")
        else:
            for row in sorted(chained, key=lambda r: r.seq or 0):
                if row.seq != expected:
                    failure = (expected, "an entry is missing or was moved")
                    break
                if row.prev_mac != previous or not hmac.compare_digest(row.mac or "", _mac(key, row, previous)):
                    failure = (expected, "an entry was altered or moved")
                    break
                previous = row.mac or ""
                expected += 1
                checked += 1
        head_seq, head_mac = (chained[-1].seq or 0, chained[-1].mac or "") if chained else (start, previous)
        return ChainReport(
            ok=failure is None,
            checked=checked,
            legacy=len(unchained),
            first_bad=None if failure is None else failure[0],
            reason=None if failure is None else failure[1],
            head_seq=head_seq,
            head_mac=head_mac,
            checkpoint_seq=start,
        )

    async def purgeable(self, before: datetime) -> int:
        boundary = await self._boundary(before)
        older = AuditRow.seq < boundary if boundary is not None else AuditRow.seq.is_not(None)
        chained = await self.session.scalar(select(func.count()).where(older))
        legacy = await self.session.scalar(select(func.count()).where(AuditRow.seq.is_(None), AuditRow.at < before))
        return int(chained or 0) + int(legacy or 0)

    async def _boundary(self, before: datetime) -> int | None:
        """The first position to keep: entries are removed as a prefix of the chain, so one
        entry dated later (a replica's clock) keeps those after it too."""
        value = await self.session.scalar(select(func.min(AuditRow.seq)).where(AuditRow.at >= before))
        return int(value) if value is not None else None

    async def purge_before(self, before: datetime, now: datetime) -> int:
        """Delete the chain's prefix older than `before`, keeping a signed checkpoint of the
        last deleted entry's MAC so that the rest still verifies."""
        await self.seal_pending()
        await self._lock()
        count = await self.purgeable(before)
        boundary = await self._boundary(before)
        older = AuditRow.seq < boundary if boundary is not None else AuditRow.seq.is_not(None)
        last = (
            await self.session.execute(
                select(AuditRow.seq, AuditRow.mac).where(older).order_by(AuditRow.seq.desc()).limit(1)
            )
        ).first()
        if last is not None and last.seq is not None and last.mac is not None:
            value = {
                "seq": last.seq,
                "mac": last.mac,
                "signature": _checkpoint_signature(self.keyring.audit_key, last.seq, last.mac),
            }
            checkpoint = await self.session.get(SyncStateRow, CHECKPOINT_KEY)
            if checkpoint is None:
                self.session.add(SyncStateRow(key=CHECKPOINT_KEY, value=value, updated_at=now))
            else:
                checkpoint.value, checkpoint.updated_at = value, now
            await self.session.execute(delete(AuditRow).where(older))
        await self.session.execute(delete(AuditRow).where(AuditRow.seq.is_(None), AuditRow.at < before))
        await self.session.flush()
        return count
