"""Opening the store from settings: keys, data directory, and migrations for the embedded default."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path

from bot.application.access import operator_grant
from bot.settings import Settings
from storage.crypto import Keyring, KeyringError, decode_key, load_or_create_chain_key
from storage.db import is_sqlite
from storage.store import Store

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The service cannot start as configured; the message says what to change."""


def load_keyring(settings: Settings) -> Keyring:
    key = settings.encryption_key.get_secret_value()
    try:
        if key:
            keyring = Keyring.from_setting(key, settings.lookup_key.get_secret_value())
        elif not is_sqlite(settings.effective_database_url):
            raise StartupError(
                "PERMANENCE_ENCRYPTION_KEY and PERMANENCE_LOOKUP_KEY are required with PostgreSQL "
                "(the key file is for the embedded SQLite default only)"
            )
        else:
            keyring = Keyring.load_or_create(key_file(settings))
        if settings.audit_key.get_secret_value():
            chain = decode_key(settings.audit_key.get_secret_value(), "PERMANENCE_AUDIT_KEY")
        elif not key or settings.audit_key_file is not None:
            chain = load_or_create_chain_key(settings.effective_audit_key_file)
        else:
            _warn_derived_chain_key()
            return keyring
        return keyring.with_chain_key(chain)
    except KeyringError as err:
        raise StartupError(str(err)) from err


def _warn_derived_chain_key() -> None:
    log.warning(
        "the audit chain has no key of its own",
        extra={"event": "keys.audit_derived", "code": "set PERMANENCE_AUDIT_KEY (base64, 32 bytes)"},
    )


def key_file(settings: Settings) -> Path:
    """The embedded default's key file; the old place in the data directory is still read
    (with a warning) until the file is moved."""
    path = settings.effective_key_file
    legacy = settings.data_dir / "keys.json"
    if not path.exists() and legacy.exists():
        log.warning(
            "key file in the data directory",
            extra={"event": "keys.legacy_location", "code": "move it to PERMANENCE_KEY_FILE"},
        )
        return legacy
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


async def open_store(settings: Settings, *, upgrade: bool | None = None) -> Store:
    """The store, migrated automatically on the embedded SQLite default (or when asked)."""
    url = settings.effective_database_url
    if is_sqlite(url):
        await asyncio.to_thread(settings.data_dir.mkdir, mode=0o700, parents=True, exist_ok=True)
    keyring = await asyncio.to_thread(load_keyring, settings)
    store = Store(url, keyring, pool=settings.pool_sizes())
    if upgrade if upgrade is not None else is_sqlite(url):
        await store.migrate()
    if is_sqlite(url):
        database = settings.data_dir / "permanence.db"
        if await asyncio.to_thread(database.exists):
            await asyncio.to_thread(database.chmod, 0o600)
    return store


async def rotate_keys(settings: Settings, *, now: datetime, operator: str | None = None) -> tuple[str, int]:
    """Re-encrypt under a new key. With the key file, the new key is generated and saved;
    with keys in the environment, the operator lists the new key first beforehand."""
    store = await open_store(settings)
    try:
        if settings.encryption_key.get_secret_value():
            keyring = store.keyring
        else:
            keyring, _ = store.keyring.with_new_key()
        # Every value is decrypted: the access policy records who does it (committed first, so
        # that even a failed rotation leaves its trace), then grants it.
        async with store.unit_of_work() as uow:
            grant = await operator_grant(
                uow,
                action="keys.rotate",
                subject_type="keyring",
                subject_id=keyring.current,
                now=now,
                operator=operator,
            )
            await uow.commit()
        changed = await store.rotate_keys(keyring, grant=grant)
        if not settings.encryption_key.get_secret_value():
            await asyncio.to_thread(keyring.write_file, await asyncio.to_thread(key_file, settings))
        return keyring.current, changed
    finally:
        await store.dispose()


async def check_schema(store: Store) -> None:
    from alembic.script import ScriptDirectory

    from storage.store import alembic_config

    head = ScriptDirectory.from_config(alembic_config(store.url)).get_current_head()
    current = await store.current_revision()
    if current != head:
        raise StartupError(
            f"database schema is at {current or 'nothing'}, expected {head}: run 'permanence db upgrade'"
        )
