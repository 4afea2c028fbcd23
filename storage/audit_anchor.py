"""Anchors of the audit chain's head outside the database (issue 22): a cut tail shows.

The service appends a signed line (position, MAC, time) to a file the operator keeps, and logs
it, every minute when the head moved and at shutdown. `permanence audit verify` reads the file
back (lines whose signature fails are reported, never trusted) and the chain must still hold
each anchor's entry: if the last entries were deleted, or deleted and written over, it says so.
Positions and MACs name no one."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from storage.crypto import Keyring
from storage.repositories.audit import anchor_signature
from storage.store import Store

log = logging.getLogger(__name__)


class AuditAnchors:
    def __init__(self, path: Path, store: Store, clock: Callable[[], datetime]) -> None:
        self.path = path
        self.store = store
        self.clock = clock
        self._last: tuple[int, str] | None = None

    async def write(self) -> bool:
        """Anchor the head if it moved since the last anchor; returns whether a line was written."""
        async with self.store.unit_of_work(read_only=True) as uow:
            seq, mac = await uow.audit.head()
        if seq == 0 or (seq, mac) == self._last:
            return False
        line = {
            "seq": seq,
            "mac": mac,
            "at": self.clock().isoformat(),
            "signature": anchor_signature(self.store.keyring.audit_key, seq, mac),
        }
        await asyncio.to_thread(_append, self.path, json.dumps(line, separators=(",", ":")))
        self._last = (seq, mac)
        log.info("audit anchor %s %s", seq, mac, extra={"event": "audit.anchor"})
        return True


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_anchors(path: Path, keyring: Keyring) -> tuple[list[tuple[int, str]], int]:
    """(the anchors whose signature holds, how many lines did not), from `path` (none: no file)."""
    if not path.exists():
        return [], 0
    good: list[tuple[int, str]] = []
    bad = 0
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            seq, mac, signature = int(data["seq"]), str(data["mac"]), str(data["signature"])
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        if hmac.compare_digest(signature, anchor_signature(keyring.audit_key, seq, mac)):
            good.append((seq, mac))
        else:
            bad += 1
    return good, bad
