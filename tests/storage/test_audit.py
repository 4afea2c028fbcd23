"""The audit trail shows tampering: chained by a keyed hash, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from booking.records import Retention
from storage.models import AuditRow
from storage.repositories.audit import _mac
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


async def verify(store: Store, anchors: list[tuple[int, str]] | None = None):  # type: ignore[no-untyped-def]
    async with store.unit_of_work(read_only=True) as uow:
        return await uow.audit.verify(anchors or ())


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
    async with store.unit_of_work() as uow:  # the service's first start with a chain of record
        assert await uow.audit.ensure_start(NOW)
        await uow.commit()
    await append(store, 2)
    report = await verify(store)
    assert report.ok and report.legacy == 1 and report.checked == 3
    async with store.unit_of_work() as uow:  # once only
        assert not await uow.audit.ensure_start(NOW)


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


# -- issue 22: rows outside the chain, a cut tail, the chain's own key --------------------------


async def start(store: Store) -> None:
    async with store.unit_of_work() as uow:
        await uow.audit.ensure_start(NOW)
        await uow.commit()


LEGACY_INSERT = (
    "INSERT INTO audit (id, at, actor, action, subject_type, subject_id, operator) "
    "VALUES (:id, :at, 'admin', 'report.generate', 'report', '2027', 'dpo@host')"
)


@pytest.mark.parametrize("started", [True, False], ids=["recorded-start", "no-start-record"])
async def test_a_row_without_a_position_on_a_database_that_never_had_a_pre_chain_era_is_found(store, started):
    if started:
        await start(store)
    await append(store, 3)
    at = NOW.replace(tzinfo=None) if store.dialect == "sqlite" else NOW
    await execute(store, LEGACY_INSERT, id=-7, at=at)  # an id before the chain's: "older", it would say
    async with store.unit_of_work(read_only=True) as uow:
        assert "report.generate" in [e.action for e in await uow.audit.entries()]  # what `audit show` lists
    report = await verify(store)
    assert not report.ok and "does not vouch" in (report.reason or "")


async def test_a_real_pre_chain_era_verifies_and_a_row_slipped_into_it_is_found(store):
    at = NOW.replace(tzinfo=None) if store.dialect == "sqlite" else NOW
    await execute(store, LEGACY_INSERT, id=-100, at=at)  # explicit ids: PostgreSQL's sequence stays free
    await start(store)
    await append(store, 2)
    assert (await verify(store)).ok
    await execute(store, LEGACY_INSERT, id=-3, at=at)
    assert not (await verify(store)).ok
    await execute(store, "DELETE FROM audit WHERE id = -3")
    await execute(store, "DELETE FROM audit WHERE id = -100")  # deleting one is found too
    assert not (await verify(store)).ok


async def test_retention_of_pre_chain_rows_verifies_and_never_launders_a_slipped_row(store):
    old = (NOW - timedelta(days=400)).replace(tzinfo=None) if store.dialect == "sqlite" else NOW - timedelta(days=400)
    for row_id in (-101, -100):
        await execute(store, LEGACY_INSERT, id=row_id, at=old)
    await start(store)
    await append(store, 3)
    async with store.unit_of_work() as uow:
        await uow.retention.purge(retention(NOW - timedelta(days=1)))
        await uow.commit()
    report = await verify(store)
    assert report.ok and report.legacy == 0
    await execute(store, LEGACY_INSERT, id=-1, at=old)
    await execute(store, LEGACY_INSERT, id=-2, at=NOW.replace(tzinfo=None) if store.dialect == "sqlite" else NOW)
    async with store.unit_of_work() as uow:
        await uow.retention.purge(retention(NOW - timedelta(days=1)))
        await uow.commit()
    assert not (await verify(store)).ok  # the slipped row left by the purge is still unvouched


async def test_a_cut_tail_written_over_is_found_by_the_anchors_kept_outside(store):
    await start(store)
    await append(store, 5)
    async with store.unit_of_work(read_only=True) as uow:
        anchor = await uow.audit.head()
    assert anchor[0] == 6
    await execute(store, "DELETE FROM audit WHERE seq >= 5")
    cut = await verify(store)
    assert cut.ok  # the chain alone cannot tell
    report = await verify(store, [anchor])
    assert not report.ok and report.first_bad == 5 and "removed" in (report.reason or "")
    await append(store, 3, start=20)  # new entries chained onto the shortened head
    assert (await verify(store)).ok
    report = await verify(store, [anchor])
    assert not report.ok and report.first_bad == 6 and "rewritten" in (report.reason or "")


async def test_the_chain_has_its_own_key_the_key_file_cannot_rewrite_it(database_url, keyring):
    chain_key = secrets.token_bytes(32)
    old = Store(database_url, keyring)
    await old.migrate()
    await append(old, 2)  # a deployment from before: MACs under the key derived from the lookup key
    await old.dispose()
    store = Store(database_url, keyring.with_chain_key(chain_key))
    try:
        async with store.unit_of_work() as uow:  # the upgrade: the switch to the chain's key, once
            assert await uow.audit.ensure_start(NOW)
            await uow.commit()
        await append(store, 2, start=5)
        assert (await verify(store)).ok
        # The key file's holder (data keys and lookup key) rewrites entry 4 and re-chains the rest.
        async with store.unit_of_work() as uow:
            rows = list(await uow.session.scalars(select(AuditRow).order_by(AuditRow.seq)))
            previous = rows[2].mac
            for row in rows[3:]:
                if row.seq == 4:
                    row.subject_id = "a-forged"
                row.prev_mac = previous
                row.mac = previous = _mac(keyring.legacy_audit_key, row, previous)
            await uow.session.flush()
            await uow.commit()
        report = await verify(store)
        assert not report.ok and report.first_bad is not None and report.first_bad <= 4
    finally:
        await store.dispose()
