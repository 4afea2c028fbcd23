"""Engine creation for SQLite and PostgreSQL, UTC datetimes, and serialised SQLite writes."""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
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

BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another process's write lock


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
    """What a statement left once run on aiosqlite's thread (its cursor is closed by then)."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self) -> None:
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def close(self) -> None:
        pass


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """One trip to aiosqlite's thread per statement (execute, fetch and close together)
    instead of four (cursor, execute, fetchall, close): each trip is a hand-off between two
    threads, which costs far more than a small query itself."""

    __slots__ = ()
    _awaitable_cursor_close = False

    def _make_new_cursor(self, connection: Any) -> Any:
        return _Outcome()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _run(self, statement: Any, parameters: Any, many: bool) -> None:
        connection = cast(aiosqlite.Connection, self._connection)
        outcome = cast(_Outcome, self._cursor)

        def run() -> tuple[Any, int, int | None, list[Any]]:
            cursor = connection._conn.cursor()  # on aiosqlite's own thread
            try:
                if many:
                    cursor.executemany(statement, parameters)
                else:
                    cursor.execute(statement, () if parameters is None else parameters)
                rows = cursor.fetchall() if cursor.description else []
                return cursor.description, cursor.rowcount, cursor.lastrowid, rows
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            done = await connection._execute(run)  # type: ignore[no-untyped-call]
        outcome.description, outcome.rowcount, outcome.lastrowid, rows = done
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        await self._run(operation, seq_of_parameters, True)


class _InlineCursor(_OneTripCursor):
    """A reader's statement runs on the event loop's thread, without a hand-off at all.

    A short indexed read in WAL mode takes tens of microseconds; handing it to aiosqlite's thread
    and back costs more than that, twice (the worker must get the GIL, then the loop must be
    woken). Readers never wait for the writer in WAL mode; if SQLite still answers « busy »
    (a checkpoint or a recovery in progress), the statement is run again on aiosqlite's thread,
    where waiting for the busy timeout holds up nobody else."""

    __slots__ = ()

    async def _run(self, statement: Any, parameters: Any, many: bool) -> None:
        connection = cast(aiosqlite.Connection, self._connection)
        outcome = cast(_Outcome, self._cursor)

        def run() -> tuple[Any, int, int | None, list[Any]]:
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

        def patiently() -> tuple[Any, int, int | None, list[Any]]:
            connection._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            try:
                return run()
            finally:
                connection._conn.execute("PRAGMA busy_timeout=0")

        async with self._adapt_connection._execute_mutex:
            try:
                done = run()
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                done = await connection._execute(patiently)  # type: ignore[no-untyped-call]
        outcome.description, outcome.rowcount, outcome.lastrowid, rows = done
        self._rows = collections.deque(rows)


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneTripCursor


class _InlineConnection(AsyncAdapt_aiosqlite_connection):
    """A reader's connection: statements, and the end of its read transactions, inline."""

    __slots__ = ()
    _cursor_cls = _InlineCursor

    def rollback(self) -> None:
        if self._connection._connection:
            self._connection._conn.rollback()

    def commit(self) -> None:
        if self._connection._connection:
            self._connection._conn.commit()


class _OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def __init__(self, *, inline: bool) -> None:
        super().__init__(aiosqlite, sqlite3)
        self._inline = inline

    def connect(self, *args: Any, **kwargs: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*args, **kwargs)
        kind = _InlineConnection if self._inline else _OneTripConnection
        return kind(self, adapted._connection)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, immediate: bool = True, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite, every transaction takes the write lock at BEGIN (unless
    `immediate` is False: the engine for read-only units of work, whose statements run on the
    event loop's thread).

    SQLite's default deferred transactions let two writers read the same state and only
    then fail or, worse, let an application-level check pass twice. `BEGIN IMMEDIATE`
    serialises writers, so the overlap check before an insert is reliable.
    """
    # SQL logging (echo, or the sqlalchemy.engine logger at INFO) never shows parameter values:
    # they are ciphertexts, lookups and dates that would tie rows to people.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        # A reader's sqlite3 connection is made on aiosqlite's thread and used on the loop's.
        kwargs.setdefault("connect_args", {"timeout": 30} if immediate else {"timeout": 0, "check_same_thread": False})
        kwargs.setdefault("module", _OneTripDBAPI(inline=not immediate))
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
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS if immediate else 0}")
            cursor.execute("PRAGMA secure_delete=ON")  # deleted confidential pages are zeroed
            cursor.close()

        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            # Straight to the driver: SQLAlchemy's statement machinery adds nothing to a BEGIN.
            cursor = connection.connection.cursor()
            try:
                cursor.execute(begin)
            finally:
                cursor.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
