"""A turn writes the conversation state only when it changed it: showing « mes rendez-vous »
again writes nothing, and the cards it showed keep working."""

from __future__ import annotations

from sqlalchemy import select

from bot import texts
from storage.models import BotStateRow
from tests.bot.conftest import Person, World
from tests.helpers.conversation import book


async def writes(world: World, person: Person) -> list[tuple[int, object]]:
    """(eTag, last write) of the person's conversation state (not the other documents of the
    key-value store, such as the cards shown to her)."""
    key = world.store.keyring.lookup(f"state:msteams/conversations/{person.conversation_id}")
    async with world.store.unit_of_work(read_only=True) as uow:
        query = select(BotStateRow.etag, BotStateRow.updated_at).where(BotStateRow.key == key)
        rows = (await uow.session.execute(query)).all()
    return sorted((etag, updated) for etag, updated in rows)


async def said(person: Person, text: str) -> str:
    reply = await person.say(text)
    assert texts.ERROR not in reply.text
    return reply.text


async def test_an_empty_list_shown_again_and_again_writes_nothing(world):
    agent = world.person("Agent")
    await said(agent, "aide")
    before = await writes(world, agent)
    for _ in range(3):
        assert texts.MINE_EMPTY in await said(agent, "mes rendez-vous")
    assert await writes(world, agent) == before


async def test_the_same_list_shown_twice_writes_once_and_both_cards_work(world):
    agent = world.person("Agent")
    assert texts.CONFIRMED_TITLE in (await book(agent, "vanves")).text
    first = await agent.say("mes rendez-vous")
    after_first = await writes(world, agent)
    second = await agent.say("mes rendez-vous")
    assert await writes(world, agent) == after_first  # the second turn wrote nothing
    assert first.actions("cancel") == second.actions("cancel")  # the same live form, shown again
    asked = await agent.submit(first.actions("cancel")[0])
    assert texts.CANCEL_CONFIRM_TITLE in asked.text


async def test_a_turn_that_changes_the_state_writes_it(world):
    agent = world.person("Agent")
    await said(agent, "aide")
    before = await writes(world, agent)
    reply = await agent.say("rendez-vous")  # a new form: the state changes
    assert texts.ERROR not in reply.text
    after = await writes(world, agent)
    assert after != before and after[0][0] == before[0][0] + 1
