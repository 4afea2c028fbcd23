"""The embedded calendar as it ships: the database is the worker's calendar, so an appointment's
event is named (with the worker's Teams room link, when configured) in the transaction that
books it. No calendar write goes through the outbox for it, none can be lost or made twice, and
the Teams link is on the confirmation card at once: no link notice follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from booking.model import Appointment, AppointmentStatus, DayKind, Mode
from bot import texts
from storage.models import AppointmentRow, OutboxRow
from tests.bot.conftest import MEETING_URL, World, walk
from tests.bot.test_booking_checks import links
from tests.bot.test_journeys import appointments, book, open_slots
from tests.bot.test_once import friendly, notices, twice


async def events(world: World) -> list[tuple[str, str | None, str | None, str]]:
    """(status, event id, Teams link, transaction id) of every appointment."""
    async with world.store.unit_of_work(read_only=True) as uow:
        ids = await uow.session.scalars(select(AppointmentRow.id).order_by(AppointmentRow.start_at))
        found = []
        for appointment_id in list(ids):
            stored = await uow.appointments.get(appointment_id)  # the link is sealed in the row
            status = stored.appointment.status.value
            found.append((status, stored.outlook_event_id, stored.join_url, stored.transaction_id))
        return found


async def calendar_messages(world: World) -> list[str]:
    async with world.store.unit_of_work(read_only=True) as uow:
        kinds = await uow.session.scalars(select(OutboxRow.kind).where(OutboxRow.kind.like("calendar.%")))
        return list(kinds)


async def test_a_teams_booking_names_its_event_and_shows_the_link_at_once(embedded_world):
    world = embedded_world
    agent = world.person("Agent")
    slots = await open_slots(agent, "vanves")
    summary = await agent.submit(slots.actions("pick")[0])
    done = await agent.submit(summary.action(texts.CONFIRM))
    # Read before any outbox pass: the event exists with the booking.
    [(status, event, link, transaction)] = await events(world)
    assert (status, event, link) == ("confirmed", f"local:{transaction}", MEETING_URL)
    assert any(n.get("url") == MEETING_URL for n in walk(done.card))
    assert texts.TEAMS_LINK_LATER not in done.text
    assert await calendar_messages(world) == []
    assert await notices(world, "link") == 0
    world.clock.advance(timedelta(minutes=1))
    assert links(await world.deliver()) == []  # the card had it: no second message


async def test_two_confirms_at_once_book_and_name_one_event(embedded_world):
    world = embedded_world
    agent = world.person("Agent")
    slots = await open_slots(agent, "vanves")
    summary = await agent.submit(slots.actions("pick")[0])
    friendly(await twice(agent, summary.action(texts.CONFIRM)))
    assert [(s, e is not None) for s, e, _, _ in await events(world)] == [("confirmed", True)]
    assert await calendar_messages(world) == []


async def test_moves_and_cancels_queue_no_calendar_write(embedded_world):
    world = embedded_world
    agent = world.person("Agent Siège")
    await book(agent, "chasseneuil", mode="in_person")
    [(_, event, link, _)] = await events(world)
    assert event is not None and link is None  # in person: no Teams room link
    mine = await agent.say("mes rendez-vous")
    slots = await agent.submit(mine.action(texts.MOVE))
    summary = await agent.submit(slots.actions("pick")[1])
    friendly(await twice(agent, summary.action(texts.CONFIRM)))
    assert await appointments(world) == [("confirmed", "2027-03-04 10:00:00")]
    assert [e for _, e, _, _ in await events(world)] == [event]  # the same event, moved with its row
    mine = await agent.say("mes rendez-vous")
    ask = await agent.submit(mine.action(texts.CANCEL))
    friendly(await twice(agent, ask.action(texts.CANCEL_YES)))
    assert await appointments(world) == [("cancelled", "2027-03-04 10:00:00")]
    assert await calendar_messages(world) == []


async def test_an_appointment_booked_before_events_were_named_at_once_is_still_written(embedded_world):
    """An upgrade: an appointment stored by the previous version, its calendar write pending."""
    world = embedded_world
    now = world.clock()
    agent_id = await world.app.people.identify(
        object_id="cccccccc-0000-0000-0000-000000000001", name="", conversation={}, email="", now=now
    )
    start = datetime(2027, 3, 4, 13, tzinfo=UTC)
    async with world.store.unit_of_work() as uow:
        stored = await uow.appointments.add(
            Appointment(
                id="a0000000-0000-0000-0000-000000000001",
                worker_id="ass",
                agent_id=agent_id,
                start=start,
                end=start + timedelta(minutes=45),
                mode=Mode.TEAMS,
                kind=DayKind.PERMANENCE,
                status=AppointmentStatus.CONFIRMED,
            ),
            site_id="vanves",
            topic_id=None,
            message="",
            now=now,
        )
        await uow.outbox.add("calendar.create", {"appointment_id": stored.id}, now, aggregate_id=stored.id)
        await uow.commit()
    assert [(e, link) for _, e, link, _ in await events(world)] == [(None, None)]
    await world.deliver()
    [(_, event, link, transaction)] = await events(world)
    assert (event, link) == (f"local:{transaction}", MEETING_URL)
    await world.app.bookings.cancel(now=world.clock(), agent_id=agent_id, appointment_id=stored.id)
    assert await calendar_messages(world) == ["calendar.create"]  # named now: its cancel needs no write
