"""Finding 8 of issue 22 (urgent floods): an agent has one urgent request in hand at a time; a
repeat is added to it, she is told it is in hand (under the emergency numbers), and nobody in
the chain is notified again, even when thirty arrive at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot import texts
from storage.models import OutboxRow
from tests.bot.conftest import WORKER_OID, Reply, World
from tests.helpers.conversation import PHONE

NUMBERS = ("15", "17", "112", "3114")


async def urgent_outbox(world: World) -> int:
    """Notifications of a worker queued so far (delivered or not)."""
    async with world.store.unit_of_work(read_only=True) as uow:
        query = select(func.count()).select_from(OutboxRow).where(OutboxRow.kind == "notify.worker")
        return int(await uow.session.scalar(query) or 0)


async def new_agent(world: World, object_id: str, name: str) -> str:
    async with world.store.unit_of_work() as uow:
        agent_id = await uow.agents.ensure(object_id, name, world.clock())
        await uow.commit()
    return agent_id


async def test_a_repeat_is_added_to_the_request_in_hand_and_notifies_nobody_again(world):
    agent = world.person("Agent Repeat")
    await agent.say("aide")
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("aide")
    first = await agent.say("urgence")
    filed = await agent.submit(first.action(texts.URGENT_SEND), description="Menace au bureau", phone=PHONE)
    reference = filed.text.split("Référence : ")[1].split(".")[0]
    assert len(await world.deliver()) == 2  # the worker, then the agent (reached)

    again = await agent.say("urgence")
    repeat = await agent.submit(
        again.action(texts.URGENT_SEND), description="Il est revenu", phone=PHONE, availability="tout de suite"
    )
    assert texts.URGENT_ALREADY_IN_HAND.format(reference=reference) in repeat.text
    assert repeat.text.index("3114") < repeat.text.index(reference) and all(n in repeat.text for n in NUMBERS)
    assert await world.deliver() == []  # nobody notified again

    listing = await social.say("urgences")
    assert listing.text.count("URG-") == 1
    assert "Menace au bureau" in listing.text and "Il est revenu" in listing.text and "tout de suite" in listing.text
    async with world.store.unit_of_work(read_only=True) as uow:
        actions = [e.action for e in await uow.audit.entries() if e.action.startswith("urgent.")]
    assert actions == ["urgent.file", "urgent.reached.teams", "urgent.repeat", "urgent.read"]


async def test_thirty_urgent_requests_at_once_reach_the_worker_once(world):
    agent_id = await new_agent(world, "cccccccc-0000-0000-0000-00000000000a", "Agent Flood")
    other_id = await new_agent(world, "cccccccc-0000-0000-0000-00000000000b", "Agent Other")

    async def file(who: str, n: int) -> bool:
        filed = await world.app.urgent.file(
            now=world.clock(), agent_id=who, description=f"message {n}", phone=PHONE, availability=""
        )
        return filed.repeat

    repeats = await asyncio.gather(*(file(agent_id, n) for n in range(30)), file(other_id, 99))
    assert sorted(repeats[:30]) == [False] + [True] * 29 and repeats[30] is False
    async with world.store.unit_of_work(read_only=True) as uow:
        mine = await uow.urgent.of_agent(agent_id)
        assert len(mine) == 1 and len(await uow.urgent.of_agent(other_id)) == 1
    assert await urgent_outbox(world) == 2  # one per agent


async def test_once_taken_and_a_while_later_a_new_emergency_is_a_new_request(world):
    agent = world.person("Agent Later")
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("aide")
    form = await agent.say("urgence")
    await agent.submit(form.action(texts.URGENT_SEND), description="Premier", phone=PHONE)
    taken = await social.submit((await social.say("urgences")).action(texts.TAKE_IT))
    assert texts.TAKEN in taken.text
    world.clock.advance(timedelta(minutes=10))
    form = await agent.say("urgence")
    soon = await agent.submit(form.action(texts.URGENT_SEND), description="Encore", phone=PHONE)
    assert "est déjà entre les mains du service social" in soon.text  # taken ten minutes ago: in hand
    world.clock.advance(timedelta(minutes=30))
    form = await agent.say("urgence")
    later = await agent.submit(form.action(texts.URGENT_SEND), description="Autre chose", phone=PHONE)
    assert "est déjà entre les mains" not in later.text and "Référence : URG-" in Reply(later.activities).text
    assert await urgent_outbox(world) == 2
