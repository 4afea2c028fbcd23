"""What the command groups share: running a use case on the configured store, argument types,
and who runs an administrative command (for its audit entry)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TypeVar

from bot import texts
from bot.application import Application
from bot.clock import service_clock
from bot.settings import Settings
from storage.store import Store

Handler = Callable[[argparse.Namespace, Settings], int]
T = TypeVar("T")


# What a count is of, as the operator reads it (purge, dossiers).
COUNTED = {
    "appointments": "rendez-vous",
    "urgent_requests": "demandes urgentes",
    "agents": "agents",
    "conversation_state": "états de conversation",
    "outbox": "lignes de la file d'envoi",
    "idempotency_keys": "clés d'idempotence",
    "audit": "entrées d'audit",
    "absences": "absences",
    "calendar": "entrées d'agenda",
    "history": "historiques",
}


def operator() -> str:
    """The system user and host running an administrative command, for its audit entry."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment nor in the password database
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def with_store(settings: Settings, work: Callable[[Store, datetime], Awaitable[T]]) -> T:
    """Run `work` (a use case of `bot.application`) on the configured store."""
    from bot.runtime import open_store

    async def run() -> T:
        store = await open_store(settings)
        try:
            return await work(store, service_clock(settings)())
        finally:
            await store.dispose()

    return asyncio.run(run())


def with_application(settings: Settings, work: Callable[[Application, datetime], Awaitable[T]]) -> T:
    """Run `work` on the use cases wired to the configured store and plan."""
    from bot.bootstrap import open_application

    async def run() -> T:
        store, app = await open_application(settings)
        try:
            await app.sync_workers()  # the plan's workers, as the service mirrors them at start
            return await work(app, service_clock(settings)())
        finally:
            await store.dispose()

    return asyncio.run(run())


def date_arg(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"date invalide (AAAA-MM-JJ attendu) : {value!r}") from err


def datetime_arg(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"date et heure invalides (ISO 8601 attendu) : {value!r}") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=texts.PARIS)
    return moment


def iso(moment: datetime) -> str:
    return moment.astimezone(texts.PARIS).isoformat()
