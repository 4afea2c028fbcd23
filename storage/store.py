"""The store: engine, keyring, units of work, migrations and key rotation."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from booking.grants import Grant, Purpose, require_everything
from storage.crypto import Keyring
from storage.db import PoolSizes, create_engine, is_sqlite, session_factory
from storage.models import AbsenceRow, AgentRow, AppointmentRow, BotStateRow, UrgentRequestRow
from storage.sealing import (
    APPOINTMENT_COLUMNS,
    URGENT_COLUMNS,
    appointment_context,
    object_id_context,
    urgent_context,
)
from storage.unit_of_work import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"


def _prefixed(prefix: str) -> Callable[[Any], str]:
    return lambda row: f"{prefix}:{row.id}"


# Every encrypted column, with the associated data its values are bound to (storage.sealing).
ENCRYPTED: tuple[tuple[type[Any], str, Callable[[Any], str]], ...] = (
    (AgentRow, "name_enc", _prefixed("agents.name")),
    (AgentRow, "phone_enc", _prefixed("agents.phone")),
    (AgentRow, "email_enc", _prefixed("agents.email")),
    (AgentRow, "conversation_enc", _prefixed("agents.conversation")),
    (AgentRow, "object_id_enc", lambda row: object_id_context(row.id, row.lookup)),
    *(
        (AppointmentRow, f"{column}_enc", partial(lambda c, row: appointment_context(c, row.id, row.agent_id), column))
        for column in APPOINTMENT_COLUMNS
    ),
    *(
        (UrgentRequestRow, f"{column}_enc", partial(lambda c, row: urgent_context(c, row.id, row.agent_id), column))
        for column in URGENT_COLUMNS
    ),
    # Her « Je suis en danger maintenant » (issue 26): not in URGENT_COLUMNS, which migration 0010
    # re-seals before 0011 adds this column.
    (UrgentRequestRow, "danger_enc", lambda row: urgent_context("danger", row.id, row.agent_id)),
    (AppointmentRow, "join_url", _prefixed("appointments.join_url")),
    (AbsenceRow, "reason_enc", _prefixed("absences.reason")),
)


# The connection a turn (or a periodic job) holds its per-conversation lock on, with the task
# that holds it: every unit of work of that task runs on it, so that a turn needs one pooled
# connection, never a second one while it holds the first. Another task (one the turn started:
# `asyncio.wait_for` runs its coroutine in a task of its own) never shares it.
_PINNED: contextvars.ContextVar[tuple[asyncio.Task[Any] | None, AsyncConnection] | None] = contextvars.ContextVar(
    "permanence_pinned_connection", default=None
)
# Set by background jobs: their units of work take the jobs' own connections, never the turns'.
_JOBS: contextvars.ContextVar[bool] = contextvars.ContextVar("permanence_jobs", default=False)


def pool_exhausted(error: BaseException | None) -> bool:
    """Whether `error` (or what caused it) is the pool's « no connection within the timeout »."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, PoolTimeout):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


class KeyedLocks:
    """asyncio locks by name, each dropped once nobody holds or awaits it (bounded memory)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)


class Store:
    def __init__(
        self, url: str, keyring: Keyring, *, engine: AsyncEngine | None = None, pool: PoolSizes | None = None
    ) -> None:
        self.url = url
        self.keyring = keyring
        self.pool = pool or PoolSizes()
        self._serial = KeyedLocks()
        # Turns and jobs whose checkout found no connection within the pool's timeout.
        self.exhausted = {"turn": 0, "job": 0}
        sizes: dict[str, Any] = {}
        if not is_sqlite(url):
            sizes = {"pool_size": self.pool.size, "max_overflow": self.pool.overflow, "pool_timeout": self.pool.timeout}
        self.engine = engine or create_engine(url, **sizes)
        self._factory = session_factory(self.engine)
        # PostgreSQL: the background jobs' own few connections (SQLite: one process, one writer).
        self._jobs: AsyncEngine | None = None
        self._jobs_factory = self._factory
        if not is_sqlite(url):
            self._jobs = create_engine(url, pool_size=self.pool.jobs, max_overflow=0, pool_timeout=30)
            self._jobs_factory = session_factory(self._jobs)
        if is_sqlite(url):
            # Readers need no write lock (WAL lets them run beside the writer), and writers of
            # this process queue on an asyncio lock instead of SQLite's sleeping busy handler.
            self._reader: AsyncEngine | None = create_engine(url, immediate=False)
            self._read_factory = session_factory(self._reader)
            self._write_lock: asyncio.Lock | None = asyncio.Lock()
        else:
            self._reader = None
            self._read_factory = self._factory
            self._write_lock = None
        self._checkpointing = asyncio.Lock()

    @property
    def dialect(self) -> str:
        return "sqlite" if is_sqlite(self.url) else self.engine.dialect.name

    def unit_of_work(self, *, read_only: bool = False, durable: bool = True) -> UnitOfWork:
        """A transaction. `read_only` ones must not write (on SQLite they cannot take the lock).
        `durable=False`: it keeps only drafts (a conversation's state between two clicks), whose
        loss in a power cut costs a click; on SQLite its commit does not wait for the disk sync
        (a killed process loses nothing). PostgreSQL commits as its server is configured."""
        pinned = self._pinned()
        if pinned is not None:
            bound: Callable[[], AsyncSession] = functools.partial(AsyncSession, bind=pinned, expire_on_commit=False)
            return UnitOfWork(bound, self.keyring, durable=durable)
        if _JOBS.get():
            return UnitOfWork(self._jobs_factory, self.keyring, lock=self._write_lock, durable=durable)
        if read_only:
            return UnitOfWork(self._read_factory, self.keyring)
        return UnitOfWork(self._factory, self.keyring, lock=self._write_lock, durable=durable)

    @staticmethod
    def _pinned() -> AsyncConnection | None:
        """The connection this task holds its lock on, unless a transaction is already open on
        it (a unit of work inside another: that one takes a connection of its own)."""
        pinned = _PINNED.get()
        if pinned is None or pinned[0] is not asyncio.current_task() or pinned[1].in_transaction():
            return None
        return pinned[1]

    @contextlib.contextmanager
    def for_jobs(self) -> Iterator[None]:
        """Background work (the outbox, a periodic job): its units of work take the jobs' own
        connections (`PoolSizes.jobs`), so that a busy job never takes one a turn waits for."""
        token = _JOBS.set(True)
        try:
            yield
        finally:
            _JOBS.reset(token)

    def note_if_exhausted(self, error: BaseException, who: str) -> bool:
        """Whether `error` is the pool's « no connection within the timeout »; if so it is
        counted for `who` ("turn": told to retry, "job": put off to its next pass)."""
        if not pool_exhausted(error):
            return False
        self.exhausted[who] = self.exhausted.get(who, 0) + 1
        return True

    def pool_report(self) -> dict[str, object]:
        """For /healthz: the pool's sizes and use, and how often it was exhausted (no personal data)."""
        report: dict[str, object] = {"exhausted": dict(self.exhausted)}
        if not is_sqlite(self.url):
            pool: Any = self.engine.pool
            report |= {
                "size": self.pool.size,
                "max_overflow": self.pool.overflow,
                "timeout_seconds": self.pool.timeout,
                "in_use": pool.checkedout(),
                "jobs_size": self.pool.jobs,
            }
        return report

    async def migrate(self, revision: str = "head", *, downgrade: bool = False) -> None:
        def run(connection: Connection) -> None:
            config = alembic_config(self.url)
            config.attributes["connection"] = connection
            config.attributes["keyring"] = self.keyring  # migrations that re-seal values (0010)
            if downgrade:
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)

        async with self.engine.begin() as connection:
            await connection.run_sync(run)

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as connection:
            try:
                return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            except DBAPIError:  # no alembic_version table yet: nothing applied
                return None

    async def connection_limits(self) -> tuple[int, int]:
        """PostgreSQL: (max_connections, superuser_reserved_connections) of the server."""
        async with self.engine.connect() as connection:
            allowed = (await connection.execute(text("SHOW max_connections"))).scalar()
            reserved = (await connection.execute(text("SHOW superuser_reserved_connections"))).scalar()
        return int(allowed or 0), int(reserved or 0)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def rotate_keys(self, keyring: Keyring, *, grant: Grant) -> int:
        """Re-encrypt every confidential value under `keyring`'s current key, padded (tokens of
        the first, unpadded version are rewritten even under the current key); returns the count.

        Every value is decrypted: it takes an operator's grant over every row (the access policy
        audited it, with the operator). `keyring` must still hold the old keys. Runs in one
        transaction: all or nothing.
        """
        require_everything(grant, (Purpose.OPERATOR,))
        changed = 0
        async with self.unit_of_work() as uow:
            for model, column, context_of in ENCRYPTED:
                rows = await uow.session.scalars(select(model))
                for row in rows:
                    token = getattr(row, column)
                    if token and not keyring.is_current(token):
                        where = context_of(row)
                        plain = keyring.decrypt(token, where)
                        setattr(row, column, keyring.encrypt(plain, where))
                        changed += 1
            for state in await uow.session.scalars(select(BotStateRow)):
                if not keyring.is_current(state.value_enc):
                    plain = keyring.decrypt(state.value_enc, f"bot_state:{state.key}")
                    state.value_enc = keyring.encrypt(plain, f"bot_state:{state.key}")
                    changed += 1
            await uow.commit()
        self.keyring = keyring
        return changed

    async def key_usage(self) -> dict[str, dict[str, int]]:
        """How many stored values each key id still protects, padded or in the first
        (unpadded) form: a key may be dropped once it protects nothing."""
        usage: dict[str, dict[str, int]] = {}

        def count(token: str) -> None:
            entry = usage.setdefault(self.keyring.key_id_of(token), {"padded": 0, "unpadded": 0})
            entry["padded" if self.keyring.is_padded(token) else "unpadded"] += 1

        async with self.unit_of_work(read_only=True) as uow:
            for model, column, _ in ENCRYPTED:
                for token in await uow.session.scalars(select(getattr(model, column))):
                    if token:
                        count(token)
            for token in await uow.session.scalars(select(BotStateRow.value_enc)):
                count(token)
        return usage

    @contextlib.asynccontextmanager
    async def advisory_lock(self, name: str) -> AsyncIterator[bool]:
        """Run a periodic job on one replica per tick: PostgreSQL's advisory lock (held for the
        block); SQLite is one process, so always granted."""
        if self.dialect != "postgresql":
            yield True
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        engine = self._jobs if _JOBS.get() and self._jobs is not None else self.engine
        async with engine.connect() as connection:
            granted = bool((await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar())
            await connection.commit()
            try:
                if granted:
                    with self._pin(connection):  # the job's units of work run on this connection
                        yield granted
                else:
                    yield granted
            finally:
                await self._release(connection, key, granted)

    @contextlib.contextmanager
    def _pin(self, connection: AsyncConnection) -> Iterator[None]:
        token = _PINNED.set((asyncio.current_task(), connection))
        try:
            yield
        finally:
            _PINNED.reset(token)

    @staticmethod
    async def _release(connection: AsyncConnection, key: int, held: bool) -> None:
        if connection.in_transaction():  # what a unit of work left (it rolls back unless committed)
            await connection.rollback()
        if held:
            await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        await connection.commit()

    @staticmethod
    async def _driver(connection: AsyncConnection) -> Any:
        """The asyncpg connection under `connection`: a statement outside any transaction is
        one round trip (SQLAlchemy's adapter would wrap it in BEGIN … COMMIT: three)."""
        return (await connection.get_raw_connection()).driver_connection

    @contextlib.asynccontextmanager
    async def serial(self, name: str) -> AsyncIterator[None]:
        """One block at a time per `name`: in this process (a lock per name, kept only while
        someone holds or waits for it, and holding no connection while it waits), and on
        PostgreSQL across replicas too: an advisory lock on one pooled connection, which every
        unit of work of the block then runs on. A turn thus needs one connection at a time, and
        waits for none while it holds one; as many turns run at once as the pool holds, the
        others queue for the pool, at most `PoolSizes.timeout` seconds (then
        `sqlalchemy.exc.TimeoutError`, see `pool_exhausted`). Used to serialise the turns of a
        conversation."""
        async with self._serial.hold(name):
            if self.dialect != "postgresql":
                yield
                return
            key = int.from_bytes(hashlib.sha256(f"serial:{name}".encode()).digest()[:8], "big", signed=True)
            async with self.engine.connect() as connection:
                driver = await self._driver(connection)
                await driver.fetchval("SELECT pg_advisory_lock($1)", key)
                try:
                    with self._pin(connection):
                        yield
                finally:
                    if connection.in_transaction():  # what a unit of work left (rolled back unless committed)
                        await connection.rollback()
                    await driver.fetchval("SELECT pg_advisory_unlock($1)", key)

    async def checkpoint(self) -> tuple[int, int] | None:
        """SQLite: copy what the write-ahead log holds into the database file (a PASSIVE
        checkpoint: it waits for no reader nor writer), on a thread and a connection of its own,
        so that no commit of a turn does it. Returns (pages in the log, pages copied); None on
        PostgreSQL. Run every second by the service; a process that ends checkpoints when it closes.

        The connection lives for one call: a checkpoint still running on its thread when the
        store is disposed (its task cancelled at shutdown) shares nothing with what is closed."""
        if not is_sqlite(self.url):
            return None
        path = self.engine.url.database or ""

        def run() -> tuple[int, int]:
            uri = f"{Path(path).resolve().as_uri()}?mode=rw"  # never creates a file
            with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None)) as connection:
                _, logged, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(logged), int(copied)

        async with self._checkpointing:
            return await asyncio.to_thread(run)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._jobs is not None:
            await self._jobs.dispose()
        if self._reader is not None:
            await self._reader.dispose()
