"""The audit trail shows tampering: chained by a keyed hash, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text

from booking.records import Retention
from storage.store import Store
from tests.helpers.store import NOW


async def append(store: Store, count: int, *, start: int = 0, operator: str | None = None) -> None:
    for index in range(start, start + count):
        async with store.unit_of_work() as uow:
            await uow.audit.record(
                actor="worker:ass",
                action="appointment.read",
                subject_type="appointment",
                subject_id=f"a-{index}",
                now=NOW + timedelta(days=index),
                operator=operator,
            )
            await uow.commit()


async def verify(store: Store):  # type: ignore[no-untyped-def]
    async with store.unit_of_work(read_only=True) as uow:
        return await uow.audit.verify()


async def execute(store: Store, sql: str, **params: object) -> None:
    async with store.unit_of_work() as uow:
        await uow.session.execute(text(sql), params)
        await uow.commit()


async def test_an_intact_chain_verifies_and_reports_its_head(store):
    await append(store, 5, operator="dpo@host")
    report = await verify(store)
    assert report.ok and report.checked == 5 and report.first_bad is None and report.head_seq == 5
    async with store.unit_of_work(read_only=True) as uow:
        entries = await uow.audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5] and {e.operator for e in entries} == {"dpo@host"}


async def test_an_edited_entry_is_found_at_its_position(store):
    await append(store, 5)
    await execute(store, "UPDATE audit SET subject_id = 'a-other' WHERE seq = 3")
    report = await verify(store)
    assert not report.ok and report.first_bad == 3


async def test_an_edited_date_or_operator_is_found(store):
    await append(store, 3)
    await execute(store, "UPDATE audit SET operator = 'someone@else' WHERE seq = 2")
    assert (await verify(store)).first_bad == 2


async def test_a_deleted_entry_is_found(store):
    await append(store, 5)
    await execute(store, "DELETE FROM audit WHERE seq = 2")
    report = await verify(store)
    assert not report.ok and report.first_bad == 2


async def test_reordered_entries_are_found(store):
    await append(store, 5)
    await execute(store, "UPDATE audit SET seq = -1 WHERE seq = 2")
    await execute(store, "UPDATE audit SET seq = 2 WHERE seq = 4")
    await execute(store, "UPDATE audit SET seq = 4 WHERE seq = -1")
    report = await verify(store)
    assert not report.ok and report.first_bad == 2


async def test_a_forged_entry_without_the_key_is_found(store):
    await append(store, 2)
    await execute(
        store,
        "INSERT INTO audit (at, actor, action, subject_type, subject_id, seq, prev_mac, mac) "
        "SELECT at, actor, action, subject_type, 'a-forged', 3, mac, mac FROM audit WHERE seq = 2",
    )
    assert (await verify(store)).first_bad == 3


async def test_an_entry_added_without_a_mac_after_the_chain_started_is_found(store):
    await append(store, 2)
    await execute(
        store,
        "INSERT INTO audit (at, actor, action, subject_type, subject_id) "
        "SELECT at, actor, action, subject_type, 'a-forged' FROM audit WHERE seq = 2",
    )
    report = await verify(store)
    assert not report.ok and report.first_bad == 3


async def test_entries_from_before_the_chain_are_reported_and_the_chain_follows_them(store):
    await execute(
        store,
        "INSERT INTO audit (at, actor, action, subject_type, subject_id) VALUES (:at, 'system', 'old', 'store', '-')",
        at=NOW.replace(tzinfo=None) if store.dialect == "sqlite" else NOW,
    )
    await append(store, 2)
    report = await verify(store)
    assert report.ok and report.legacy == 1 and report.checked == 2


async def test_concurrent_writers_never_fork_the_chain(store):
    async def one(index: int) -> None:
        async with store.unit_of_work() as uow:
            await uow.audit.record(
                actor="agent", action="book", subject_type="appointment", subject_id=f"c-{index}", now=NOW
            )
            await uow.audit.record(
                actor="agent", action="read", subject_type="appointment", subject_id=f"c-{index}", now=NOW
            )
            await uow.commit()

    await asyncio.gather(*(one(i) for i in range(20)))
    report = await verify(store)
    assert report.ok and report.checked == 40 and report.head_seq == 40


async def test_entries_since_a_date(store):
    await append(store, 4)
    async with store.unit_of_work(read_only=True) as uow:
        recent = await uow.audit.entries(since=NOW + timedelta(days=2))
    assert [e.subject_id for e in recent] == ["a-2", "a-3"]


def retention(before) -> Retention:  # type: ignore[no-untyped-def]
    return Retention(records_before=NOW, state_before=NOW, outbox_before=NOW, audit_before=before)


async def test_retention_removes_a_prefix_and_the_rest_still_verifies(store):
    await append(store, 6)
    async with store.unit_of_work() as uow:
        assert (await uow.retention.purge(retention(NOW + timedelta(days=3)), dry_run=True))["audit"] == 3
        counts = await uow.retention.purge(retention(NOW + timedelta(days=3)))
        await uow.commit()
    assert counts["audit"] == 3
    report = await verify(store)
    assert report.ok and report.checked == 3 and report.checkpoint_seq == 3
    await append(store, 2, start=10)  # the chain goes on after the checkpoint
    assert (await verify(store)).ok
    async with store.unit_of_work() as uow:  # a second purge moves the checkpoint on
        await uow.retention.purge(retention(NOW + timedelta(days=20)))
        await uow.commit()
    report = await verify(store)
    assert report.ok and report.checked == 0 and report.checkpoint_seq == 8
    await append(store, 1, start=30)
    assert (await verify(store)).ok


async def test_deleting_old_entries_outside_retention_is_found(store):
    await append(store, 4)
    await execute(store, "DELETE FROM audit WHERE seq <= 2")  # no checkpoint written
    report = await verify(store)
    assert not report.ok and report.first_bad == 1


async def test_a_forged_checkpoint_is_found(store):
    await append(store, 4)
    async with store.unit_of_work() as uow:
        await uow.retention.purge(retention(NOW + timedelta(days=2)))
        await uow.commit()
    assert (await verify(store)).ok
    await execute(store, "DELETE FROM audit WHERE seq = 3")
    async with store.unit_of_work() as uow:
        await uow.sync_state.put("audit.checkpoint", {"seq": 3, "mac": "f" * 64, "signature": "0" * 64}, NOW)
        await uow.commit()
    assert not (await verify(store)).ok
