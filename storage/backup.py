"""Backups of the embedded SQLite database: an online, consistent copy, never readable by others."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from pathlib import Path


class BackupError(Exception):
    """The backup cannot be made as asked; the message says what to do instead."""


def _sqlite_copy(source: Path, target: Path) -> None:
    # SQLite's online backup API: a consistent copy while the service keeps writing (WAL included).
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # never readable by others
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(partial)) as dst:
        src.backup(dst)
    os.chmod(partial, 0o600)
    os.replace(partial, target)


async def backup_sqlite(database: Path, target: Path) -> int:
    """Copy the embedded SQLite database to `target` (mode 0600); returns its size in bytes."""
    if not await asyncio.to_thread(database.exists):
        raise BackupError(f"aucune base en {database} : rien à sauvegarder")
    await asyncio.to_thread(_sqlite_copy, database, target)
    return (await asyncio.to_thread(target.stat)).st_size
