"""The booking use case on SQLite and PostgreSQL: the Teams link notice is written in the
booking's own transaction, so a double confirmation at once queues it exactly once; a slot made
busy after it was offered is refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from booking.errors import BookingRefused, RefusalReason
from booking.model import Interval, Mode
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
