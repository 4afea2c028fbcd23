"""Retention: what is past its time goes, with its history; what is recent, or still needed, stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from booking.records import Retention
from storage.models import AgentRow, AppointmentChangeRow, AuditRow, BotStateRow, OutboxRow
from tests.helpers.store import appointment, book, seed

NOW = datetime(2028, 6, 1, tzinfo=UTC)
RETENTION = Retention(
    records_before=NOW - timedelta(days=400),
    state_before=NOW - timedelta(days=90),
    outbox_before=NOW - timedelta(days=30),
    audit_before=NOW - timedelta(days=1100),
)


async def count(uow, model) -> int:  # type: ignore[no-untyped-def]
    return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_purge_removes_old_records_and_keeps_recent_ones(store):
    old_agent, recent_agent = await seed(store, "old", "recent")  # seeded in March 2027
    old_id = await book(store, appointment(old_agent, datetime(2027, 3, 4, 8, tzinfo=UTC)), message="ancien")
    recent_id = await book(store, appointment(recent_agent, datetime(2027, 8, 5, 8, tzinfo=UTC)), message="récent")
    async with store.unit_of_work() as uow:
        await uow.agents.ensure("recent", "Agent recent", NOW - timedelta(days=10))  # seen lately
        await uow.state.write("old-conversation", {"x": 1}, None, NOW - timedelta(days=200))
        await uow.state.write("live-conversation", {"x": 2}, None, NOW - timedelta(days=1))
        assert await uow.idempotency.claim("old-form", "book", NOW - timedelta(days=200)) is None
        assert await uow.idempotency.claim("live-form", "book", NOW - timedelta(days=1)) is None
        await uow.commit()
    async with store.unit_of_work() as uow:
        planned = await uow.retention.purge(RETENTION, dry_run=True)
        assert await count(uow, AgentRow) == 2  # a dry run deletes nothing
    assert planned == {
        "appointments": 1,
        "urgent_requests": 0,
        "agents": 1,
        "conversation_state": 1,
        "outbox": 0,
        "audit": 0,
        "idempotency_keys": 1,
    }
    async with store.unit_of_work() as uow:
        assert await uow.retention.purge(RETENTION) == planned
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert [a.id for a in await uow.appointments.for_worker("ass", NOW - timedelta(days=1000), NOW)] == [recent_id]
        assert await uow.outbox.statuses(old_id) == []
        assert await count(uow, AppointmentChangeRow) == 1
        assert await uow.agents.find("old") is None and await uow.agents.find("recent") == recent_agent
        assert await uow.state.read(["old-conversation", "live-conversation"]) == {"live-conversation": ({"x": 2}, "1")}
        assert await count(uow, AuditRow) == 2  # audit entries are younger than their retention
        assert await count(uow, BotStateRow) == 1 and await count(uow, OutboxRow) == 1
        assert await uow.idempotency.claim("live-form", "book", NOW) == ""  # kept: still answers « déjà fait »
        assert await uow.idempotency.claim("old-form", "book", NOW) is None  # purged: the key is free again
