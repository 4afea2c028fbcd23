"""Operator use cases shared by the web application and the command line: outbox health and backups."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bot.metrics import Metrics
from storage.sealing import tampered_counts
from storage.store import Store


def register_outbox_gauges(metrics: Metrics, store: Store, clock: Callable[[], datetime]) -> None:
    """Gauges to alert on: rows due now (future reminders excluded), late ones and dead ones."""

    async def read(field: str) -> float:
        async with store.unit_of_work(read_only=True) as uow:
            return float(getattr(await uow.outbox.health(clock()), field))

    async def due() -> float:
        return await read("due")

    async def overdue() -> float:
        return await read("overdue")

    async def dead() -> float:
        return await read("dead")

    metrics.gauge("permanence_outbox_depth", "Outbox rows due now, not yet delivered (future reminders excluded)", due)
    metrics.gauge("permanence_outbox_overdue", "Outbox rows due more than 5 minutes ago, not delivered", overdue)
    metrics.gauge("permanence_outbox_dead", "Outbox rows given up on: retry or drop them (permanence outbox)", dead)

    async def tampered() -> float:
        return float(sum(tampered_counts().values()))

    # Any value above zero is an alert: someone changed who owns a row in the database.
    metrics.gauge(
        "permanence_tampered_rows",
        "Rows read since start whose owner does not match their seal (changed in the database): hidden",
        tampered,
    )


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
