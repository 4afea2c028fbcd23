"""Outbox operations on SQLite and PostgreSQL: listing by state, health counts, retry and drop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from booking.records import Conflict, NotFound
from storage.store import Store

NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)


async def queue(store: Store) -> dict[str, int]:
    """One row of each state: done, due, late, future, dead, and one being delivered."""
    ids: dict[str, int] = {}
    async with store.unit_of_work() as uow:
        for name, due in [
            ("done", NOW - timedelta(hours=1)),
            ("due", NOW - timedelta(minutes=1)),
            ("late", NOW - timedelta(minutes=30)),
            ("future", NOW + timedelta(days=2)),
            ("dead", NOW - timedelta(hours=3)),
            ("leased", NOW - timedelta(hours=2)),
        ]:
            ids[name] = await uow.outbox.add(
                f"notify.{name}", {"agent": "SENTINEL-id"}, NOW - timedelta(days=1), not_before=due
            )
        await uow.commit()
    async with store.unit_of_work() as uow:
        # Claimed an hour ago with a two-hour lease: "leased" is still being delivered at NOW.
        claimed = await uow.outbox.claim("ops", NOW - timedelta(minutes=59), limit=10, lease=timedelta(hours=2))
        assert {m.kind for m in claimed} == {"notify.done", "notify.dead", "notify.leased"}
        await uow.outbox.complete(ids["done"], "ops", NOW)
        await uow.outbox.retry_later(ids["dead"], "ops", "graph_403_forbidden", NOW, dead=True)
        await uow.commit()
    return ids


async def test_listing_shows_state_attempts_due_time_and_error_code_never_the_payload(store):
    ids = await queue(store)
    async with store.unit_of_work(read_only=True) as uow:
        every = await uow.outbox.entries(NOW)
        dead = await uow.outbox.entries(NOW, state="dead")
        late = await uow.outbox.entries(NOW, state="late")
        due = await uow.outbox.entries(NOW, state="due")
    states = {e.id: e.state for e in every}
    assert ids["done"] not in states
    assert states[ids["future"]] == "scheduled" and states[ids["due"]] == "due" and states[ids["late"]] == "late"
    assert [(e.id, e.state, e.attempts, e.last_error) for e in dead] == [
        (ids["dead"], "dead", 1, "graph_403_forbidden")
    ]
    assert {e.id for e in late} == {ids["late"], ids["leased"]}
    assert {e.id for e in due} == {ids["due"], ids["late"], ids["leased"]}
    assert all("SENTINEL" not in repr(e) for e in every)
    with pytest.raises(ValueError, match="unknown outbox state"):
        async with store.unit_of_work(read_only=True) as uow:
            await uow.outbox.entries(NOW, state="everything")


async def test_health_counts_due_rows_only_not_future_reminders(store):
    await queue(store)
    async with store.unit_of_work(read_only=True) as uow:
        health = await uow.outbox.health(NOW)
        assert (health.due, health.overdue, health.dead) == (3, 2, 1)
        assert await uow.outbox.depth() == 4  # every pending row, the future reminder included
        later = await uow.outbox.health(NOW + timedelta(days=3))
        assert (later.due, later.overdue) == (4, 4)


async def test_retry_makes_a_dead_row_due_now_with_a_fresh_back_off(store):
    ids = await queue(store)
    async with store.unit_of_work() as uow:
        await uow.outbox.retry_now(ids["dead"], NOW)
        await uow.commit()
    async with store.unit_of_work() as uow:
        claimed = await uow.outbox.claim("ops2", NOW, limit=10)
        await uow.commit()
    again = next(m for m in claimed if m.id == ids["dead"])
    assert again.attempts == 1 and again.due_at == NOW


async def test_retry_refuses_unknown_done_and_leased_rows(store):
    ids = await queue(store)
    for name, error in (("done", Conflict), ("leased", Conflict)):
        async with store.unit_of_work() as uow:
            with pytest.raises(error):
                await uow.outbox.retry_now(ids[name], NOW)
    async with store.unit_of_work() as uow:
        with pytest.raises(NotFound):
            await uow.outbox.retry_now(999_999, NOW)


async def test_two_operators_retrying_every_dead_row_at_once_requeue_each_once(store):
    ids = await queue(store)
    async with store.unit_of_work() as uow:
        second = await uow.outbox.add("notify.other", {}, NOW)
        await uow.commit()
    async with store.unit_of_work() as uow:
        await uow.outbox.claim("ops", NOW, limit=10)
        for message_id in (ids["due"], ids["late"], second):
            await uow.outbox.retry_later(message_id, "ops", "graph_400", NOW, dead=True)
        await uow.commit()

    async def retry_all() -> int:
        async with store.unit_of_work() as uow:
            count = await uow.outbox.retry_dead(NOW)
            await uow.commit()
            return count

    counts = await asyncio.gather(retry_all(), retry_all())
    assert sum(counts) == 4
    async with store.unit_of_work(read_only=True) as uow:
        assert (await uow.outbox.health(NOW)).dead == 0


async def test_drop_deletes_dead_rows_and_pending_ones_only_when_forced(store):
    ids = await queue(store)
    async with store.unit_of_work() as uow:
        with pytest.raises(Conflict):
            await uow.outbox.drop(ids["due"], NOW)
    async with store.unit_of_work() as uow:
        await uow.outbox.drop(ids["dead"], NOW)
        await uow.outbox.drop(ids["future"], NOW, force=True)
        await uow.commit()
    async with store.unit_of_work() as uow:
        with pytest.raises(Conflict):
            await uow.outbox.drop(ids["leased"], NOW, force=True)  # being delivered right now
    async with store.unit_of_work() as uow:
        with pytest.raises(NotFound):
            await uow.outbox.drop(ids["dead"], NOW)
    async with store.unit_of_work(read_only=True) as uow:
        left = {e.id for e in await uow.outbox.entries(NOW)}
    assert left == {ids["due"], ids["late"], ids["leased"]}


async def test_withdraw_deletes_pending_messages_of_one_purpose_only_unless_being_delivered(store):
    later = NOW + timedelta(seconds=15)
    async with store.unit_of_work() as uow:
        await uow.outbox.add("notify.agent", {"what": "link"}, NOW, "appt-1", not_before=later)
        await uow.outbox.add("notify.agent", {"what": "reminder"}, NOW, "appt-1", not_before=later)
        await uow.outbox.add("notify.agent", {"what": "link"}, NOW, "appt-2", not_before=later)
        await uow.outbox.add("notify.agent", {"what": "link"}, NOW, "appt-3", not_before=NOW)
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert [m.aggregate_id for m in await uow.outbox.claim("ops", NOW, limit=10)] == ["appt-3"]
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.outbox.withdraw("notify.agent", "appt-1", "link", NOW) == 1
        assert await uow.outbox.withdraw("notify.agent", "appt-3", "link", NOW) == 0  # being delivered
        assert await uow.outbox.withdraw("notify.agent", "appt-1", "link", NOW) == 0
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert len(await uow.outbox.statuses("appt-1")) == 1  # the reminder stays
        assert len(await uow.outbox.statuses("appt-2")) == 1
        assert len(await uow.outbox.statuses("appt-3")) == 1
