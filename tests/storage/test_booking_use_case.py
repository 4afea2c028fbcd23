"""The booking use case on SQLite and PostgreSQL: the Teams link notice is written in the
booking's own transaction, so a double confirmation at once queues it exactly once; a slot made
busy after it was offered is refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from booking.errors import BookingRefused, RefusalReason
from booking.model import Interval, Mode
from booking.plan import DayHours
from bot.application import Application
from bot.application.bookings import LINK_DELAY
from bot.application.context import AlreadyDone
from storage.models import OutboxRow
from storage.store import Store
from tests.bot.conftest import sample_deployment

NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)  # Monday 1 March 2027, 9:00 in Paris
SLOT = "ass@20270304T0800Z"  # Thursday 4 March, 9:00 in Paris, Vanves' first slot


async def application(store: Store) -> tuple[Application, str]:
    app = Application(store, sample_deployment())
    await app.sync_workers()
    async with store.unit_of_work() as uow:
        agent = await uow.agents.ensure("oid-agent", "Agent", NOW)
        await uow.commit()
    return app, agent


async def link_notices(store: Store) -> list[datetime]:
    async with store.unit_of_work(read_only=True) as uow:
        rows = (
            await uow.session.execute(
                select(OutboxRow.payload, OutboxRow.next_attempt_at).where(OutboxRow.kind == "notify.agent")
            )
        ).all()
    return [due for payload, due in rows if payload.get("what") == "link"]


async def test_two_confirmations_at_once_book_once_and_queue_one_link_notice(store):
    app, agent = await application(store)

    async def confirm() -> str:
        try:
            stored = await app.bookings.book(
                now=NOW,
                agent_id=agent,
                site_id="vanves",
                slot_key=SLOT,
                mode=Mode.TEAMS,
                topic_id=None,
                key="form-1",
                link_notice=True,
            )
        except AlreadyDone as done:
            return f"done:{done.ref}"
        return stored.id

    first, second = await asyncio.gather(confirm(), confirm())
    assert sorted([first.startswith("done:"), second.startswith("done:")]) == [False, True]
    due = await link_notices(store)
    assert len(due) == 1 and due[0].replace(tzinfo=UTC) == NOW + LINK_DELAY


async def test_no_link_notice_for_a_phone_appointment_nor_without_meeting_links(store):
    app, agent = await application(store)
    for mode, links, slot in ((Mode.PHONE, True, SLOT), (Mode.TEAMS, False, "ass@20270304T0900Z")):
        await app.bookings.book(
            now=NOW, agent_id=agent, site_id="vanves", slot_key=slot, mode=mode, topic_id=None, link_notice=links
        )
    assert await link_notices(store) == []


async def test_a_slot_made_busy_after_the_offer_is_refused_with_alternatives_around_it(store):
    app, agent = await application(store)
    offer = await app.offers.offer(now=NOW, site_id="vanves", topic_id=None)
    assert SLOT in [s.key for s in offer.slots]
    async with store.unit_of_work() as uow:
        busy = Interval(start=datetime(2027, 3, 4, 8, tzinfo=UTC), end=datetime(2027, 3, 4, 9, tzinfo=UTC))
        await uow.calendar.put(worker_id="ass", interval=busy, category="busy", now=NOW, external_id="evt-1")
        await uow.commit()
    with pytest.raises(BookingRefused) as refused:
        await app.bookings.book(
            now=NOW, agent_id=agent, site_id="vanves", slot_key=SLOT, mode=Mode.TEAMS, topic_id=None, link_notice=True
        )
    assert refused.value.reason is RefusalReason.SLOT_TAKEN
    alternatives = [s.key for s in refused.value.alternatives]
    assert len(alternatives) == 3 and SLOT not in alternatives
    assert all(abs(s.start - busy.start) < timedelta(days=14) for s in refused.value.alternatives)
    assert await link_notices(store) == []


@pytest.mark.parametrize("busy_days", [0, 13, 20, 45])
async def test_the_first_offer_is_the_first_period_with_free_slots_as_period_by_period(store, busy_days):
    """Her next days are busy in the calendar: the offer reads the rest of the horizon at once
    and gives what looking period by period gives (the first period with free slots)."""
    app, _ = await application(store)
    worker = next(w for w in app.context.directory.workers if w.id == "ass")
    for offset in range(busy_days):
        await app.local_calendar.block_time(
            now=NOW, worker=worker, day=NOW.date() + timedelta(days=offset), hours=DayHours(start=time(7), end=time(20))
        )
    horizon = max(plan.horizon for plan in app.deployment.plans.values())
    for topic in (None, "logement"):
        got = await app.offers.first_offer(now=NOW, site_id="vanves", topic_id=topic, days=14)
        start, expected = NOW.date(), await app.offers.offer(now=NOW, site_id="vanves", topic_id=topic, days=14)
        while not expected.slots and app.context.local_midnight(start) < NOW + horizon:
            start += timedelta(days=14)
            expected = await app.offers.offer(now=NOW, site_id="vanves", topic_id=topic, start=start, days=14)
        assert got.slots == expected.slots and got.titular == expected.titular
        assert got.slots, "a free period within the horizon"
        assert all(slot.start.date() >= NOW.date() + timedelta(days=busy_days) for slot in got.slots)
