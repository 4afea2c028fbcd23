"""The hot queries use an index on both databases: each store call below runs on a populated
database while every statement it sends is first explained (SQLite: EXPLAIN QUERY PLAN;
PostgreSQL: EXPLAIN (FORMAT JSON) with sequential scans disabled, so that a sequential scan
in the plan means that no index can serve the query), and no plan reads a big table whole."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text

from booking.grants import Purpose, issue_grant
from booking.model import Appointment, AppointmentStatus, DayKind, Mode, Worker, WorkerRole
from booking.records import Retention
from storage.models import AgentRow, AppointmentRow, IdempotencyRow, OutboxRow
from storage.store import Store
from storage.unit_of_work import UnitOfWork

BIG = {"appointments", "agents", "outbox"}
# Partial indexes hold only the live rows (pending messages, active appointments): reading one
# whole reads what is live, not the table's history.
PARTIAL = {"ix_outbox_pending", "uq_appointments_active_slot"}
NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)
REPORT = issue_grant(Purpose.REPORT, everything=True)  # the access policy hands this out, audited
WORKERS = [f"w{i}" for i in range(8)]
AGENTS = 400
APPOINTMENTS = 4000


def full_scans_sqlite(rows: list[Any]) -> list[str]:
    """EXPLAIN QUERY PLAN rows are (id, parent, notused, detail); 'SCAN t' reads t whole,
    'SCAN t USING [COVERING] INDEX i' reads an index whole (as costly, unless it is partial)."""
    found = []
    for row in rows:
        detail = str(row[-1])
        words = detail.split()
        if len(words) >= 2 and words[0] == "SCAN" and words[1] in BIG and words[-1] not in PARTIAL:
            found.append(detail)
    return found


def full_scans_postgres(rows: list[Any]) -> list[str]:
    raw = rows[0][0]
    plan = json.loads(raw) if isinstance(raw, str) else raw
    found = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in BIG:
            found.append(f"Seq Scan on {node['Relation Name']}")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


@asynccontextmanager
async def explained(store: Store) -> AsyncIterator[tuple[UnitOfWork, list[tuple[str, list[str]]]]]:
    """A unit of work (rolled back) whose statements are each explained before they run."""
    plans: list[tuple[str, list[str]]] = []
    postgres = store.dialect == "postgresql"

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if executemany or verb not in ("SELECT", "UPDATE", "DELETE", "WITH"):
            return
        prefix = "EXPLAIN (FORMAT JSON) " if postgres else "EXPLAIN QUERY PLAN "
        probe = conn.connection.cursor()
        probe.execute(prefix + statement, parameters)
        rows = probe.fetchall()
        probe.close()
        plans.append((statement, full_scans_postgres(rows) if postgres else full_scans_sqlite(rows)))

    engines = [store.engine] + ([store._reader] if store._reader is not None else [])
    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", explain)
    try:
        async with store.unit_of_work() as uow:
            if postgres:
                await uow.session.execute(text("SET LOCAL enable_seqscan = off"))
            plans.clear()
            yield uow, plans
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", explain)


async def populate(store: Store) -> dict[str, Any]:
    """Workers, agents, past and upcoming appointments, done and pending outbox messages."""
    async with store.unit_of_work() as uow:
        await uow.workers.sync([Worker(id=w, name=w, role=WorkerRole.TITULAR) for w in WORKERS])
        agents = [str(uuid.UUID(int=i + 1)) for i in range(AGENTS)]
        await uow.session.execute(
            insert(AgentRow),
            [
                {"id": a, "lookup": f"{i:064x}", "site_id": "vanves", "created_at": NOW, "updated_at": NOW}
                for i, a in enumerate(agents)
            ],
        )
        first = NOW - timedelta(days=700)
        rows = []
        for i in range(APPOINTMENTS):
            start = first + timedelta(hours=6 * i)
            rows.append(
                {
                    "id": str(uuid.UUID(int=10**6 + i)),
                    "reference": f"RDV-{i:08d}",
                    "worker_id": WORKERS[i % len(WORKERS)],
                    "agent_id": agents[i % AGENTS],
                    "site_id": "vanves",
                    "start_at": start,
                    "end_at": start + timedelta(minutes=45),
                    "mode": "teams",
                    "kind": "permanence",
                    "status": "confirmed" if start > NOW or i % 5 else "cancelled",
                    "urgent": False,
                    "transaction_id": str(uuid.uuid4()),
                    "outlook_event_id": f"AAMk-{i}",
                    "version": 1,
                    "created_at": start - timedelta(days=7),
                    "updated_at": start,
                }
            )
        await uow.session.execute(insert(AppointmentRow), rows)
        await uow.session.execute(
            insert(OutboxRow),
            [
                {
                    "kind": "calendar.create",
                    "aggregate_id": r["id"],
                    "payload": {"appointment_id": r["id"]},
                    "status": "done" if i % 50 else "pending",
                    "attempts": 1,
                    "next_attempt_at": r["created_at"],
                    "created_at": r["created_at"],
                    "done_at": r["created_at"] if i % 50 else None,
                }
                for i, r in enumerate(rows)
            ],
        )
        await uow.session.execute(
            insert(IdempotencyRow),
            [{"key": f"{i:064x}", "kind": "book", "ref": rows[i]["id"], "created_at": NOW} for i in range(200)],
        )
        await uow.state.write("msteams/conversations/a:1", {"permanence": {}}, None, NOW)
        await uow.audit.record(actor="agent", action="x", subject_type="appointment", subject_id="-", now=NOW)
        await uow.commit()
    async with store.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    return {"agent": agents[3]}


Call = Callable[[UnitOfWork, dict[str, Any]], Awaitable[object]]


async def _book(uow: UnitOfWork, known: dict[str, Any]) -> object:
    start = NOW + timedelta(days=3, hours=1)
    appointment = Appointment(
        id=str(uuid.uuid4()),
        worker_id="w1",
        agent_id=known["agent"],
        start=start,
        end=start + timedelta(minutes=45),
        mode=Mode.TEAMS,
        kind=DayKind.PERMANENCE,
        status=AppointmentStatus.CONFIRMED,
    )
    return await uow.appointments.add(appointment, site_id="vanves", topic_id=None, message="", now=NOW)


async def _audit_tail(uow: UnitOfWork, known: dict[str, Any]) -> object:
    await uow.audit.record(actor="agent", action="y", subject_type="appointment", subject_id="-", now=NOW)
    await uow.audit.seal_pending()
    return None


async def _claim_twice(uow: UnitOfWork) -> object:
    await uow.idempotency.claim("a-form-id", "book", NOW)  # an insert that finds no row
    return await uow.idempotency.claim("a-form-id", "book", NOW)  # then the lookup of what was done


RETENTION = Retention(  # a daily purge: the oldest few records go
    records_before=NOW - timedelta(days=650),
    state_before=NOW - timedelta(days=30),
    outbox_before=NOW - timedelta(days=30),
    audit_before=NOW - timedelta(days=365 * 5),
)

HOT: dict[str, Call] = {
    "agent by keyed hash": lambda uow, k: uow.agents.find("an-object-id"),
    "upcoming appointments of an agent": lambda uow, k: uow.appointments.upcoming_for_agent(k["agent"], NOW),
    "active appointments of workers in a range (slots)": lambda uow, k: uow.appointments.active_between(
        WORKERS[:2], NOW, NOW + timedelta(days=60)
    ),
    "appointments of a worker in a range": lambda uow, k: uow.appointments.for_worker(
        "w2", NOW, NOW + timedelta(days=7)
    ),
    "a booking (overlap check, insert)": _book,
    "appointment of an Outlook event (calendar sync)": lambda uow, k: uow.appointments.by_outlook_event("AAMk-1"),
    "appointment by reference": lambda uow, k: uow.appointments.by_reference("RDV-00000007"),
    "outbox claim": lambda uow, k: uow.outbox.claim("replica", NOW),
    "idempotency lookup (a repeated submit)": lambda uow, k: _claim_twice(uow),
    "conversation state (forms) lookup": lambda uow, k: uow.state.read(["msteams/conversations/a:1"]),
    "conversation state write": lambda uow, k: uow.state.write("msteams/conversations/a:1", {"x": 1}, "1", NOW),
    "audit tail": _audit_tail,
    "report rows of a quarter": lambda uow, k: uow.appointments.report_rows(
        NOW - timedelta(days=90), NOW, grant=REPORT
    ),
    "retention purge": lambda uow, k: uow.retention.purge(RETENTION),
}


# The daily purge looks for idle agents among all of them, once a day: allowed to read them.
ALLOWED = {"retention purge": {"agents"}}


@pytest.fixture
async def populated(store: Store) -> tuple[Store, dict[str, Any]]:
    return store, await populate(store)


@pytest.mark.parametrize("name", list(HOT))
async def test_a_hot_query_reads_no_big_table_whole(populated, name):
    store, known = populated
    async with explained(store) as (uow, plans):
        await HOT[name](uow, known)
    assert plans, "no statement was explained"
    allowed = ALLOWED.get(name, set())
    scans = [
        (statement[:200], kept)
        for statement, found in plans
        if (kept := [scan for scan in found if not any(f" {table}" in scan for table in allowed)])
    ]
    assert not scans, f"{name}: {scans}"


async def test_a_full_scan_is_seen(populated):
    """The check itself can fail: a query by an unindexed column is reported."""
    store, _ = populated
    async with explained(store) as (uow, plans):
        await uow.session.execute(text("SELECT count(*) FROM appointments WHERE mode = 'phone'"))
    assert any(scans for _, scans in plans)
