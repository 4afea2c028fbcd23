"""re-seal confidential values bound to their owner: appointments' and urgent requests' values
to their agent, an agent's Entra id to her lookup; empty values sealed like any value; free
text padded to its field's limit; meeting links sealed (storage.sealing, storage.crypto)

A data migration: it needs the keyring, which `Store.migrate` hands over (`permanence migrate`
and the service's start do). A value that does not open under its old binding (changed in the
database already) is left as it is: it will not open under the new one either, and is
reported when read.

Revision ID: 0010
Revises: 0009
Create Date: 2027-02-01 09:00:00
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from storage.crypto import Keyring, KeyringError
from storage.sealing import (
    APPOINTMENT_COLUMNS,
    URGENT_COLUMNS,
    appointment_context,
    join_url_context,
    object_id_context,
    urgent_context,
)

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

log = logging.getLogger("storage.migrations")
BATCH = 5000  # rows per executemany

Context = Callable[[Any, str], str]  # (row, column) -> associated data


def _old(table: str) -> Context:
    return lambda row, column: f"{table}.{column}:{row.id}"


def _appointment(row: Any, column: str) -> str:
    return appointment_context(column, row.id, row.agent_id)


def _urgent(row: Any, column: str) -> str:
    return urgent_context(column, row.id, row.agent_id)


def _object_id(row: Any, column: str) -> str:
    return object_id_context(row.id, row.lookup)


# (table, owner column, columns, their associated data before, after; whether empty values are sealed)
STEPS: tuple[tuple[str, str, tuple[str, ...], Context, Context, bool], ...] = (
    ("appointments", "agent_id", APPOINTMENT_COLUMNS, _old("appointments"), _appointment, True),
    ("urgent_requests", "agent_id", URGENT_COLUMNS, _old("urgent"), _urgent, True),
    ("agents", "lookup", ("object_id",), _old("agents"), _object_id, True),
    ("agents", "lookup", ("phone", "name", "email"), _old("agents"), _old("agents"), True),
    ("absences", "id", ("reason",), _old("absences"), _old("absences"), False),
)


def _keyring() -> Keyring | None:
    keyring = context.config.attributes.get("keyring")
    return keyring if isinstance(keyring, Keyring) else None


def _reseal(*, forward: bool) -> None:
    connection = op.get_bind()
    keyring = _keyring()
    left = 0
    for name, owner, columns, before, after, seal_empty in STEPS:
        old, new = (before, after) if forward else (after, before)
        owners: list[sa.ColumnClause[Any]] = [sa.column(owner)] if owner != "id" else []
        table = sa.table(name, sa.column("id"), *owners, *(sa.column(f"{c}_enc") for c in columns))
        rows = connection.execute(sa.select(table)).fetchall()
        if rows and keyring is None:
            raise RuntimeError("migration 0010 re-seals stored values: run it with the keys (permanence migrate)")
        # One statement for every row (executemany), each row's columns all given: a value that
        # does not open, or an empty one not to seal, is written back as it was.
        updates: list[dict[str, Any]] = []
        for row in rows:
            values: dict[str, Any] = {"_id": row.id}
            for column in columns:
                token = values[f"{column}_enc"] = getattr(row, f"{column}_enc")
                if not token and not (forward and seal_empty):
                    continue
                try:
                    plain = keyring.decrypt(token, old(row, column)) if token else ""  # type: ignore[union-attr]
                except KeyringError:
                    left += 1
                    continue
                if not forward and not plain and column == "object_id":
                    values[f"{column}_enc"] = ""  # before 0010, an unknown Entra id was left empty
                    continue
                values[f"{column}_enc"] = keyring.encrypt(plain, new(row, column))  # type: ignore[union-attr]
            updates.append(values)
        for start in range(0, len(updates), BATCH):
            connection.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("_id"))
                .values({f"{c}_enc": sa.bindparam(f"{c}_enc") for c in columns}),
                updates[start : start + BATCH],
            )
    if left:
        log.warning("%d stored values did not open under their binding and were left as they were", left)


def _meeting_links(*, forward: bool) -> None:
    """Meeting links were kept in clear (None without one): sealed, an empty value for none."""
    connection = op.get_bind()
    keyring = _keyring()
    table = sa.table("appointments", sa.column("id"), sa.column("join_url"))
    updates: list[dict[str, Any]] = []
    for row in connection.execute(sa.select(table)).fetchall():
        context = join_url_context(row.id)
        if forward:
            if keyring is None:
                raise RuntimeError("migration 0010 re-seals stored values: run it with the keys (permanence migrate)")
            value: str | None = keyring.encrypt(row.join_url or "", context)
        else:
            try:
                value = (keyring.decrypt(row.join_url, context) if keyring and row.join_url else "") or None
            except KeyringError:
                continue
        updates.append({"_id": row.id, "link": value})
    for start in range(0, len(updates), BATCH):
        connection.execute(
            sa.update(table).where(table.c.id == sa.bindparam("_id")).values(join_url=sa.bindparam("link")),
            updates[start : start + BATCH],
        )


def upgrade() -> None:
    _reseal(forward=True)
    _meeting_links(forward=True)


def downgrade() -> None:
    _meeting_links(forward=False)
    _reseal(forward=False)
