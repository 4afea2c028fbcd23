"""Engine creation for SQLite and PostgreSQL, UTC datetimes, and serialised SQLite writes."""

from __future__ import annotations

import collections
import contextvars
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import aiosqlite
from sqlalchemy import DateTime, event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.concurrency import await_

BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another process's write lock

# Set by a unit of work (its ORM session's calls may run a statement without an await);
# elsewhere, SQLAlchemy's AsyncConnection insists that each call awaits something.
INLINE: contextvars.ContextVar[bool] = contextvars.ContextVar("permanence_inline_sqlite", default=False)
# Unset by a unit of work that only keeps drafts (a conversation's state between two clicks):
# on SQLite its commit does not wait for the disk sync. Everything else commits durably.
DURABLE: contextvars.ContextVar[bool] = contextvars.ContextVar("permanence_durable_commit", default=True)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and returns them aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Outcome:
    """What a statement left once run (its cursor is closed by then)."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self) -> None:
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def close(self) -> None:
        pass


Ran = tuple[Any, int, int | None, list[Any]]


def _patiently(connection: sqlite3.Connection, work: Callable[[], Ran | None]) -> Ran | None:
    """On aiosqlite's thread: `work` with the busy timeout, so that waiting holds up nobody."""
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return work()
    finally:
        connection.execute("PRAGMA busy_timeout=0")


def _busy(err: sqlite3.OperationalError) -> bool:
    return "locked" in str(err) or "busy" in str(err)


class _InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """A statement runs on the event loop's thread, executed, fetched and closed at once.

    A statement of a turn takes tens of microseconds; handing it to aiosqlite's thread and back
    costs more than that, twice (the worker must get the GIL, then the loop must be woken).
    Nothing here waits: the connection's busy timeout is zero, so a statement SQLite answers
    « busy » (another process holds the write lock at BEGIN IMMEDIATE, a checkpoint or a recovery
    is in progress) is run again on aiosqlite's thread with the real timeout, where waiting holds
    up nobody else. COMMIT, which waits for the disk, is always run there (see the connection)."""

    __slots__ = ()
    _awaitable_cursor_close = False

    def _make_new_cursor(self, connection: Any) -> Any:
        return _Outcome()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    def _statement(self, statement: Any, parameters: Any, many: bool) -> Callable[[], Ran]:
        connection = cast(aiosqlite.Connection, self._connection)

        def run() -> Ran:
            cursor = connection._conn.cursor()
            try:
                if many:
                    cursor.executemany(statement, parameters)
                else:
                    cursor.execute(statement, () if parameters is None else parameters)
                rows = cursor.fetchall() if cursor.description else []
                return cursor.description, cursor.rowcount, cursor.lastrowid, rows
            finally:
                cursor.close()

        return run

    def _keep(self, done: Ran) -> None:
        outcome = cast(_Outcome, self._cursor)
        outcome.description, outcome.rowcount, outcome.lastrowid, rows = done
        self._rows = collections.deque(rows)

    async def _run(self, statement: Any, parameters: Any, many: bool) -> None:
        connection = cast(aiosqlite.Connection, self._connection)
        run = self._statement(statement, parameters, many)
        async with self._adapt_connection._execute_mutex:
            try:
                done = run()
            except sqlite3.OperationalError as err:
                if not _busy(err):
                    raise
                done = await connection._execute(_patiently, connection._conn, run)  # type: ignore[no-untyped-call]
        self._keep(done)

    def _now(self, statement: Any, parameters: Any, many: bool) -> None:
        """Run at once, in SQLAlchemy's greenlet: no switch to the event loop and back (the
        statement does not wait for anything). Only a « busy » answer, or the connection's
        mutex held by a statement that is waiting, takes the awaiting path."""
        if not INLINE.get() or self._adapt_connection._execute_mutex.locked():
            await_(self._run(statement, parameters, many))
            return
        try:
            done = self._statement(statement, parameters, many)()
        except sqlite3.OperationalError as err:
            if not _busy(err):
                raise
            await_(self._run(statement, parameters, many))  # again, then on aiosqlite's thread
            return
        self._keep(done)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            self._now(operation, parameters, False)
        except Exception as error:  # noqa: BLE001 - translated like the driver's own errors
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            self._now(operation, seq_of_parameters, True)
        except Exception as error:  # noqa: BLE001 - translated like the driver's own errors
            self._adapt_connection._handle_exception(error)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        await self._run(operation, seq_of_parameters, True)


class _InlineConnection(AsyncAdapt_aiosqlite_connection):
    """Statements and rollbacks inline; a durable commit on aiosqlite's thread (it waits for the
    disk sync, with the GIL released), with the busy timeout; a draft's commit inline (no sync)."""

    __slots__ = ("_relaxed",)
    _cursor_cls = _InlineCursor

    def relax(self) -> None:
        """This transaction keeps drafts (`DURABLE` unset): its commit does not wait for the
        disk. A process killed after it loses nothing (the WAL is written); a power cut may lose
        it, and only it and other drafts after the last durable commit, whose sync covers them."""
        self._connection._conn.execute("PRAGMA synchronous=NORMAL")
        self._relaxed = True

    def _firm(self) -> None:
        if getattr(self, "_relaxed", False):
            self._relaxed = False
            self._connection._conn.execute("PRAGMA synchronous=FULL")

    def rollback(self) -> None:
        if self._connection._connection:
            try:
                try:
                    self._connection._conn.rollback()
                finally:
                    self._firm()  # the next transaction is durable, whatever became of this one
            except Exception as error:  # noqa: BLE001 - translated like the driver's own errors
                self._handle_exception(error)

    def commit(self) -> None:
        if self._connection._connection:
            raw = self._connection._conn
            try:
                if getattr(self, "_relaxed", False):
                    try:
                        raw.commit()  # no disk sync to wait for: at once
                    except sqlite3.OperationalError as err:
                        if not _busy(err):
                            raise
                        await_(self._connection._execute(_patiently, raw, raw.commit))
                    self._firm()
                    return
                await_(self._connection._execute(_patiently, raw, raw.commit))
            except Exception as error:  # noqa: BLE001 - translated like the driver's own errors
                self._handle_exception(error)


class _InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *args: Any, **kwargs: Any) -> _InlineConnection:
        adapted = super().connect(*args, **kwargs)
        return _InlineConnection(self, adapted._connection)


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolSizes:
    """PostgreSQL connections of one process: `size` kept open for the turns, up to `overflow`
    more opened under load, `timeout` seconds a turn waits for one before it is told to retry;
    `jobs` connections apart for the background jobs (outbox, reminders, sync, purge), so that a
    job never takes a connection a turn is waiting for. SQLite ignores them."""

    size: int = 10
    overflow: int = 5
    timeout: float = 5.0
    jobs: int = 2

    @property
    def per_process(self) -> int:
        """The most connections one process opens: what `max_connections` must allow per replica."""
        return self.size + self.overflow + self.jobs


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, immediate: bool = True, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite, every transaction takes the write lock at BEGIN (unless
    `immediate` is False: the engine for read-only units of work), and statements run on the
    event loop's thread (commits on aiosqlite's).

    SQLite's default deferred transactions let two writers read the same state and only
    then fail or, worse, let an application-level check pass twice. `BEGIN IMMEDIATE`
    serialises writers, so the overlap check before an insert is reliable.
    """
    # SQL logging (echo, or the sqlalchemy.engine logger at INFO) never shows parameter values:
    # they are ciphertexts, lookups and dates that would tie rows to people.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        # The sqlite3 connection is made on aiosqlite's thread and mostly used on the loop's; it
        # never waits there for a lock (see _InlineCursor).
        kwargs.setdefault("connect_args", {"timeout": 0, "check_same_thread": False})
        kwargs.setdefault("module", _InlineDBAPI())
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):

        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=0")
            cursor.execute("PRAGMA secure_delete=ON")  # deleted confidential pages are zeroed
            # No WAL checkpoint inside anyone's commit (it writes and syncs the database file: a
            # turn would wait for it); `Store.checkpoint` runs them beside, on its own connection.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            if not DURABLE.get():
                connection.connection.dbapi_connection.relax()
            # Straight to the driver: SQLAlchemy's statement machinery adds nothing to a BEGIN.
            cursor = connection.connection.cursor()
            try:
                cursor.execute(begin)
            finally:
                cursor.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
