"""Store fixtures: every storage test runs on SQLite and on PostgreSQL (127.0.0.1:5432).

Each PostgreSQL test gets its own database cloned from a migrated template, so runs never
collide. Without a server the PostgreSQL cases skip with the reason, except under CI,
where they fail: CI must test both.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from booking.grants import Purpose, issue_grant
from storage.crypto import Keyring
from storage.store import Store

# Tests at the storage level act as an operator (the access policy issues grants in the service).
OPERATOR = issue_grant(Purpose.OPERATOR, everything=True)
PG_ADMIN = os.environ.get("PERMANENCE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_url(database: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def make_keyring() -> Keyring:
    return Keyring(keys={"k1": secrets.token_bytes(32)}, current="k1", lookup_key=secrets.token_bytes(32))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """A migrated template database, or None (with the reason printed) when no server answers."""
    name = f"permanence_tmpl_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        reason = f"PostgreSQL not reachable at {PG_ADMIN}: {type(err).__name__}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests)")
        print(f"\nSKIPPING PostgreSQL storage tests: {reason}")
        yield None
        return

    async def migrate() -> None:
        store = Store(pg_url(name), make_keyring())
        await store.migrate()
        await store.dispose()

    asyncio.run(migrate())
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def keyring() -> Keyring:
    return make_keyring()


def _database(request: pytest.FixtureRequest, tmp_path, template: str | None, *, migrated: bool) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if template is None:
        pytest.skip("PostgreSQL not reachable")
    name = f"permanence_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if migrated else "")))
    yield pg_url(name)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path, postgres_template) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database URL on each engine (PostgreSQL: a clone of the migrated template)."""
    yield from _database(request, tmp_path, postgres_template, migrated=True)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path, postgres_template) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh database without any table, on each engine."""
    yield from _database(request, tmp_path, postgres_template, migrated=False)


@pytest.fixture
async def store(database_url: str, keyring: Keyring) -> AsyncIterator[Store]:
    """A migrated store on each database (upgrading a template clone is a no-op)."""
    instance = Store(database_url, keyring)
    await instance.migrate()
    yield instance
    await instance.dispose()


def b64key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()
