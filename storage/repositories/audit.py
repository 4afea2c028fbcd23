"""The append-only audit trail, chained by a keyed hash so that tampering shows.

Each entry carries its position `seq`, the previous entry's MAC and its own MAC: an HMAC
(key derived from the lookup key, see `Keyring.audit_key`) over the position, the fields and
the previous MAC. Editing, deleting or reordering an entry breaks the chain from there on;
whoever can write to the database cannot recompute it without the key. Entries are chained
when the unit of work commits, under a lock (a transaction-scoped advisory lock on
PostgreSQL, the single writer on SQLite), so concurrent writers never fork the chain.
Retention deletes a prefix of the chain and keeps a signed checkpoint of the last deleted
MAC, so what remains still verifies.

Issue 22 (insiders):
- Rows without a position are accepted only if the chain vouches for them: its `audit.start`
  entry (written once, when the service first starts with this code) records how many entries
  predate the chain and a digest of them; the retention checkpoint carries that digest on,
  signed, when it removes some. With no such record, any row without a position is tampering.
- Removing entries at the very end cannot show in the chain itself: the service writes signed
  anchors of the head (position and MAC) outside the database (a file and the log), and
  `verify(anchors=...)` finds a head behind an anchor, or another entry where an anchor was.
- The chain's key is its own (`Keyring.chain_key`), not derived from the lookup key; entries
  MAC'd with the derived key are accepted only before the first entry under the chain key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
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
START_ACTION = "audit.start"  # the chain's record of the entries from before it
KEY_ACTION = "audit.chain_key"  # the first entry under the chain's own key
CUT = "entries at the end were removed (an anchor kept outside names a later position)"
REWRITTEN = "the chain was rewritten from here (an anchor kept outside names another entry)"
UNVOUCHED = "entries without a position that the chain does not vouch for (none, or others, existed before it)"
UNKEYED = "the chain's last entries are not sealed with the chain's own key"
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


def _checkpoint_signature(key: bytes, seq: int, mac: str, legacy: str | None = None) -> str:
    signed = f"checkpoint|{seq}|{mac}" + (f"|legacy|{legacy}" if legacy is not None else "")
    return hmac.new(key, signed.encode(), hashlib.sha256).hexdigest()


def anchor_signature(key: bytes, seq: int, mac: str) -> str:
    """An anchor of the chain's head, kept outside the database (see `storage.audit_anchor`)."""
    return hmac.new(key, f"anchor|{seq}|{mac}".encode(), hashlib.sha256).hexdigest()


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _legacy_digest(rows: list[AuditRow]) -> str:
    """What the entries from before the chain are, all of them, in one value."""
    fields = [
        [r.id, _naive_utc(r.at).isoformat(), r.actor, r.action, r.subject_type, r.subject_id, r.operator]
        for r in sorted(rows, key=lambda r: r.id)
    ]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


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

    async def _checkpoint(self) -> tuple[int, str, bool, str | None]:
        """(last purged position, its MAC, whether the checkpoint's signature holds, the digest
        of the entries from before the chain that are left, if retention removed some)."""
        row = await self.session.get(SyncStateRow, CHECKPOINT_KEY)
        if row is None:
            return 0, GENESIS, True, None
        seq, mac = int(row.value.get("seq", 0)), str(row.value.get("mac", ""))
        legacy = row.value.get("legacy")
        legacy = str(legacy) if legacy is not None else None
        given = str(row.value.get("signature", ""))
        valid = any(hmac.compare_digest(given, _checkpoint_signature(key, seq, mac, legacy)) for key in self._keys())
        return seq, mac, valid, legacy

    def _keys(self) -> list[bytes]:
        """The chain's key, then the key derived from the lookup key (before the chain had its own)."""
        keys = [self.keyring.audit_key]
        if self.keyring.legacy_audit_key != keys[0]:
            keys.append(self.keyring.legacy_audit_key)
        return keys

    async def _start_digest(self) -> str | None:
        """The digest the chain's `audit.start` entry vouches for (None: no such entry)."""
        operator = (
            await self.session.scalars(
                select(AuditRow.operator).where(AuditRow.action == START_ACTION, AuditRow.seq.is_not(None))
            )
        ).first()
        return operator.removeprefix("legacy:") if operator is not None else None

    async def latest_subject(self, action: str, subject_id: str | None = None) -> str | None:
        """The subject of the last chained entry of `action` (of that subject, if given). Only
        chained entries count: a row slipped in without a position vouches for nothing."""
        query = select(_AUDIT.subject_id).where(_AUDIT.action == action, _AUDIT.seq.is_not(None))
        if subject_id is not None:
            query = query.where(_AUDIT.subject_id == subject_id)
        return (await self.session.execute(query.order_by(_AUDIT.seq.desc()).limit(1))).scalar()

    async def head(self) -> tuple[int, str]:
        """The chain's last position and MAC (what an anchor records)."""
        await self.seal_pending()
        return await self._head()

    async def ensure_start(self, now: datetime) -> bool:
        """Record, once, the entries from before the chain (`audit.start`), and the switch to the
        chain's own key (`audit.chain_key`) when the head is still under the derived key. Called
        by the service at start; returns whether it recorded something (commit to keep it)."""
        recorded = False
        started = await self.session.scalar(
            select(func.count()).where(_AUDIT.action == START_ACTION, _AUDIT.seq.is_not(None))
        )
        _, _, _, carried = await self._checkpoint()
        if not started and carried is None:
            legacy = list(await self.session.scalars(select(AuditRow).where(AuditRow.seq.is_(None))))
            await self.record(
                actor="system",
                action=START_ACTION,
                subject_type="audit",
                subject_id=str(len(legacy)),
                operator=f"legacy:{_legacy_digest(legacy)}",
                now=now,
            )
            recorded = True
        if self.keyring.legacy_audit_key != self.keyring.audit_key:
            seq, mac = await self._head()
            row = (await self.session.scalars(select(AuditRow).where(AuditRow.seq == seq))).first()
            under_chain_key = row is not None and hmac.compare_digest(
                mac, _mac(self.keyring.audit_key, row, row.prev_mac or "")
            )
            if row is not None and not under_chain_key:
                await self.record(actor="system", action=KEY_ACTION, subject_type="audit", subject_id="chain", now=now)
                recorded = True
        return recorded

    async def _head(self) -> tuple[int, str]:
        last = (await self.session.execute(_HEAD)).first()
        if last is not None and last.seq is not None and last.mac is not None:
            return last.seq, last.mac
        seq, mac, _, _ = await self._checkpoint()
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

    async def verify(self, anchors: Sequence[tuple[int, str]] = ()) -> ChainReport:
        """Walk the chain from the retention checkpoint; report the first broken position.
        `anchors`: (position, MAC) pairs kept outside the database, signatures already checked."""
        new_key, *old_keys = self._keys()
        start, previous, signed, carried = await self._checkpoint()
        rows = list(await self.session.scalars(select(AuditRow).order_by(AuditRow.seq, AuditRow.id)))
        chained = [r for r in rows if r.seq is not None]
        unchained = [r for r in rows if r.seq is None]
        first_chained_id = min((r.id for r in chained), default=None)
        checked, expected, failure = 0, start + 1, None
        switched = False  # an entry under the chain's own key was met: no derived key after it
        vouched = carried  # the digest of the entries from before the chain, as last recorded
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
                mac = row.mac or ""
                if row.prev_mac != previous:
                    failure = (expected, "an entry was altered or moved")
                    break
                if hmac.compare_digest(mac, _mac(new_key, row, previous)):
                    switched = True
                elif switched or not any(hmac.compare_digest(mac, _mac(k, row, previous)) for k in old_keys):
                    failure = (expected, "an entry was altered or moved")
                    break
                if row.action == START_ACTION and carried is None and vouched is None:
                    vouched = (row.operator or "").removeprefix("legacy:")
                previous = mac
                expected += 1
                checked += 1
        head_seq, head_mac = (chained[-1].seq or 0, chained[-1].mac or "") if chained else (start, previous)
        if failure is None and chained and old_keys and not switched:
            failure = (head_seq, UNKEYED)
        unvouched = vouched != _legacy_digest(unchained) if vouched is not None else bool(unchained)
        if failure is None and unvouched:
            failure = (start + 1, UNVOUCHED)
        if failure is None:
            failure = self._behind_anchor(anchors, chained, start, head_seq=head_seq)
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

    @staticmethod
    def _behind_anchor(
        anchors: Sequence[tuple[int, str]], chained: list[AuditRow], start: int, *, head_seq: int
    ) -> tuple[int, str] | None:
        """An anchor beyond the head (a cut tail), or naming another entry than the one at its
        position (a cut tail written over); anchors inside the purged prefix cannot be checked."""
        macs = {r.seq: r.mac for r in chained}
        for seq, mac in sorted(anchors):
            if seq <= start:
                continue
            if seq > head_seq:
                return (head_seq + 1, CUT)
            if macs.get(seq) != mac:
                return (seq, REWRITTEN)
        return None

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
        start, previous, _, carried = await self._checkpoint()
        legacy = list(await self.session.scalars(select(AuditRow).where(AuditRow.seq.is_(None))))
        kept = [r for r in legacy if _naive_utc(r.at) >= _naive_utc(before)]
        vouched = carried if carried is not None else await self._start_digest()
        if len(kept) != len(legacy) and vouched is not None:
            # What is left of the entries from before the chain, carried on only if they were
            # the vouched ones: retention never launders entries added behind the chain's back.
            carried = _legacy_digest(kept) if vouched == _legacy_digest(legacy) else vouched
        if last is not None and last.seq is not None and last.mac is not None:
            start, previous = last.seq, last.mac
        if (last is not None and last.seq is not None) or carried is not None:
            value: dict[str, object] = {"seq": start, "mac": previous}
            if carried is not None:
                value["legacy"] = carried
            value["signature"] = _checkpoint_signature(self.keyring.audit_key, start, previous, carried)
            checkpoint = await self.session.get(SyncStateRow, CHECKPOINT_KEY)
            if checkpoint is None:
                self.session.add(SyncStateRow(key=CHECKPOINT_KEY, value=value, updated_at=now))
            else:
                checkpoint.value, checkpoint.updated_at = value, now
        if last is not None:
            await self.session.execute(delete(AuditRow).where(older))
        await self.session.execute(delete(AuditRow).where(AuditRow.seq.is_(None), AuditRow.at < before))
        await self.session.flush()
        return count
