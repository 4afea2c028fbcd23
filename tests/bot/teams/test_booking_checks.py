"""The confirmation of a booking checks the slot against the calendar as it is now, and queues
the Teams link notice with the booking itself: once, and only when her card could not show it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from booking.model import Interval
from bot import texts
from graph.provider import CalendarChange, ChangeKind, SyncResult
from tests.bot.conftest import MEETING_URL, World, walk
from tests.helpers.conversation import appointments, friendly, links, notices, open_slots, twice

THURSDAY_9H = "ass@20270304T0800Z"  # the first slot offered to Vanves (jeudi 4 mars, 9 h)


async def outlook_busy(world: World, start: datetime, end: datetime) -> None:
    """The worker puts a meeting in her Outlook calendar; the sync mirrors it."""
    change = CalendarChange(
        kind=ChangeKind.UPSERT, event_id="evt-late", interval=Interval(start=start, end=end), busy=True
    )
    await world.app.outlook.apply("ass", SyncResult(changes=(change,)), world.clock())


async def test_a_busy_block_added_in_outlook_after_the_offer_makes_the_confirm_refuse_the_slot(world):
    agent = world.person("Agent")
    slots = await open_slots(agent, "vanves")
    summary = await agent.submit(next(a for a in slots.actions("pick") if a["slot"] == THURSDAY_9H))
    # Offered and picked, then the worker books the hour in Outlook.
    await outlook_busy(world, datetime(2027, 3, 4, 8, tzinfo=UTC), datetime(2027, 3, 4, 9, tzinfo=UTC))
    refused = await agent.submit(summary.action(texts.CONFIRM))
    assert texts.REFUSALS["slot_taken"] in refused.text
    alternatives = [a["slot"] for a in refused.actions("pick")]
    assert alternatives and THURSDAY_9H not in alternatives
    assert await appointments(world) == []
    # The alternatives come from the weeks around the slot, and one of them books.
    won = await agent.submit((await agent.submit(refused.actions("pick")[0])).action(texts.CONFIRM))
    assert texts.CONFIRMED_TITLE in won.text


async def test_a_slot_on_a_later_day_of_the_offer_is_checked_on_that_day(world):
    agent = world.person("Agent")
    slots = await open_slots(agent, "vanves")
    later = [a for a in slots.actions("pick") if not a["slot"].startswith("ass@20270304")][-1]
    summary = await agent.submit(later)
    done = await agent.submit(summary.action(texts.CONFIRM))
    assert texts.CONFIRMED_TITLE in done.text
    start = datetime.strptime(later["slot"].split("@")[1], "%Y%m%dT%H%MZ")
    assert await appointments(world) == [("confirmed", start.strftime("%Y-%m-%d %H:%M:%S"))]


async def test_the_card_shows_the_link_and_no_link_notice_follows(world):
    agent = world.person("Agent")
    slots = await open_slots(agent, "vanves")
    summary = await agent.submit(slots.actions("pick")[0])
    done = await agent.submit(summary.action(texts.CONFIRM))
    assert any(n.get("url") == MEETING_URL for n in walk(done.card))
    assert texts.TEAMS_LINK_LATER not in done.text
    assert await notices(world, "link") == 0  # queued with the booking, withdrawn once shown
    world.clock.advance(timedelta(minutes=1))
    assert links(await world.deliver()) == []


async def test_the_link_notice_is_queued_with_the_booking_once_even_if_the_turn_fails_after(world, monkeypatch):
    async def broken(within: float = 3.0) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(world.dispatcher, "drain_soon", broken)
    agent = world.person("Agent")
    slots = await open_slots(agent, "vanves")
    summary = await agent.submit(slots.actions("pick")[0])
    replies = await twice(agent, summary.action(texts.CONFIRM))
    friendly(replies)
    when = "jeudi 4 mars 2027 à 9 h"
    assert all(texts.DONE_BOOKED.format(date=when) in r.text for r in replies)  # booked, told plainly
    assert await appointments(world) == [("confirmed", "2027-03-04 08:00:00")]
    assert await notices(world, "link") == 1
    assert links(await world.deliver()) == []  # not before its delay
    world.clock.advance(timedelta(minutes=1))
    assert len(links(await world.deliver())) == 1


async def test_a_refused_booking_queues_no_link_notice(world, monkeypatch):
    async def broken(within: float = 3.0) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(world.dispatcher, "drain_soon", broken)  # no card: the notice stays queued
    first, second = world.person("Première"), world.person("Seconde")
    summaries = []
    for person in (first, second):
        slots = await open_slots(person, "vanves")
        summaries.append(await person.submit(slots.actions("pick")[0]))
    replies = await asyncio.gather(
        first.submit(summaries[0].action(texts.CONFIRM)), second.submit(summaries[1].action(texts.CONFIRM))
    )
    assert sorted(texts.REFUSALS["slot_taken"] in r.text for r in replies) == [False, True]
    assert await appointments(world) == [("confirmed", "2027-03-04 08:00:00")]
    assert await notices(world, "link") == 1  # the winner's only


async def test_only_a_card_that_shows_what_the_outbox_writes_waits_for_it(world, monkeypatch):
    drained: list[str] = []

    async def drain_soon(within: float = 3.0) -> None:
        drained.append("drained")

    async def calendar_create(appointment_id: str) -> list[str]:
        async with world.store.unit_of_work(read_only=True) as uow:
            return [s[1] for s in await uow.outbox.statuses(appointment_id) if s[0] == "calendar.create"]

    monkeypatch.setattr(world.dispatcher, "drain_soon", drain_soon)
    agent = world.person("Agent")
    summary = await agent.submit((await open_slots(agent, "vanves", mode="phone")).actions("pick")[0])
    assert texts.CONFIRMED_TITLE in (await agent.submit(summary.action(texts.CONFIRM))).text
    assert drained == []  # the calendar event is written by the woken outbox, not waited for
    async with world.store.unit_of_work(read_only=True) as uow:
        (stored,) = await uow.appointments.for_worker("ass", world.clock(), world.clock() + timedelta(days=30))
    assert await calendar_create(stored.id) == ["pending"]
    await world.deliver()
    assert await calendar_create(stored.id) == ["done"]
    other = world.person("Autre")
    summary = await other.submit((await open_slots(other, "vanves")).actions("pick")[0])
    assert texts.CONFIRMED_TITLE in (await other.submit(summary.action(texts.CONFIRM))).text
    assert drained == ["drained"]  # a Teams link to come: the card waits for the calendar
