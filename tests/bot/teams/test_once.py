"""Every action once: double clicks, a second device and redelivered activities, run
concurrently (asyncio.gather), give one effect and friendly replies, never an error."""

from __future__ import annotations

import asyncio

from botbuilder.schema import Activity, ActivityTypes
from sqlalchemy import func, select

from bot import texts
from storage.models import AppointmentRow, OutboxRow, UrgentRequestRow
from tests.bot.conftest import World
from tests.helpers.conversation import PHONE, appointments, book, friendly, notices, open_slots, twice, worker


async def count(world: World, *where: object, model: type = UrgentRequestRow) -> int:
    async with world.store.unit_of_work(read_only=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_two_confirms_at_once_book_once_and_both_are_told(world):
    agent = world.person("Agent")
    slots = await open_slots(agent, "vanves")
    summary = await agent.submit(slots.actions("pick")[0])
    replies = await twice(agent, summary.action(texts.CONFIRM))
    friendly(replies)
    assert await appointments(world) == [("confirmed", "2027-03-04 08:00:00")]
    texts_ = sorted(r.text for r in replies)
    assert any(texts.CONFIRMED_TITLE in t for t in texts_)
    assert any(texts.DONE_BOOKED.format(date="jeudi 4 mars 2027 à 9 h") in t for t in texts_)


async def test_two_urgent_sends_at_once_file_one_request_and_tell_the_worker_once(world):
    await (await worker(world)).say("aide")  # reachable on Teams: no escalation adds notices
    agent = world.person("Agent")
    await agent.say("aide")
    form = await agent.say("urgence")
    replies = await twice(agent, form.action(texts.URGENT_SEND), description="", phone=PHONE, availability="")
    friendly(replies)
    assert await count(world) == 1
    assert await notices(world, "urgent") == 1
    assert any("C'est déjà fait : votre demande urgente URG-" in r.text for r in replies)


async def test_two_cancels_and_two_moves_at_once_change_once(world):
    agent = world.person("Agent Siège")
    await book(agent, "chasseneuil", mode="in_person")
    mine = await agent.say("mes rendez-vous")
    slots = await agent.submit(mine.action(texts.MOVE))
    summary = await agent.submit(slots.actions("pick")[1])
    friendly(await twice(agent, summary.action(texts.CONFIRM)))
    assert await appointments(world) == [("confirmed", "2027-03-04 10:00:00")]
    mine = await agent.say("mes rendez-vous")
    ask = await agent.submit(mine.action(texts.CANCEL))
    replies = await twice(agent, ask.action(texts.CANCEL_YES))
    friendly(replies)
    assert await appointments(world) == [("cancelled", "2027-03-04 10:00:00")]
    assert await count(world, OutboxRow.kind == "calendar.cancel", model=OutboxRow) == 1


async def test_the_worker_takes_an_urgent_request_and_accepts_a_request_once(world):
    agent = world.person("Agent Lille")
    await book(agent, "lille", mode="home_visit")
    await agent.say("aide")
    form = await agent.say("urgence")
    await agent.submit(form.action(texts.URGENT_SEND), description="", phone=PHONE, availability="")
    social = await worker(world)
    await social.say("aide")
    listing = await social.say("urgences")
    friendly(await twice(social, listing.action(texts.TAKE_IT)))
    assert await count(world, UrgentRequestRow.status != "open") == 1
    assert await notices(world, "urgent_taken") == 1
    requests = await social.say("demandes")
    friendly(await twice(social, requests.action(texts.ACCEPT)))
    assert await appointments(world) == [("confirmed", "2027-03-04 08:00:00")]
    assert await notices(world, "accepted") == 1


async def test_five_messages_of_one_conversation_at_once_get_five_answers(world):
    agent = world.person("Agent")
    await book(agent, "vanves")
    devices = [agent, *(agent.twin() for _ in range(4))]
    replies = await asyncio.gather(*(d.say("mes rendez-vous") for d in devices))
    for reply in replies:
        assert texts.ERROR not in reply.text
        assert "jeudi 4 mars 2027 à 9 h" in reply.text


async def test_a_redelivered_activity_is_answered_once(world):
    agent = world.person("Agent")
    slots = await open_slots(agent, "vanves")
    summary = await agent.submit(slots.actions("pick")[0])
    confirm = summary.action(texts.CONFIRM)
    twin = agent.twin()

    def delivery() -> Activity:
        return Activity(type=ActivityTypes.message, value=confirm, reply_to_id="card-9")

    twin.adapter._next_id = agent.adapter._next_id  # the Bot Connector sends the same activity again
    first, second = await asyncio.gather(agent._run(delivery()), twin._run(delivery()))
    assert await count(world, model=AppointmentRow) == 1
    answered = [r for r in (first, second) if r.activities]
    assert len(answered) == 1 and texts.CONFIRMED_TITLE in answered[0].text
