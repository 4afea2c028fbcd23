"""A fresh PostgreSQL database for one test (skipped without a server, failed under CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from tests.storage.conftest import PG_ADMIN


@asynccontextmanager
async def fresh_database(prefix: str) -> AsyncIterator[str]:
    """Creates an empty database named `<prefix>_<random>`, yields its name, then drops it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable: {err!r}")
        pytest.skip(f"PostgreSQL not reachable: {type(err).__name__}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
