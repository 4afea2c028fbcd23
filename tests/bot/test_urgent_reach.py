"""An urgent request always reaches a person (issue 13), through the real bot, store and outbox:
what the agent is told in each case, with the emergency numbers on every urgent card."""

from __future__ import annotations

from datetime import timedelta

from botbuilder.schema import Activity, ActivityTypes

from bot import texts
from tests.bot.conftest import REPLACEMENT_OID, WORKER_OID, Person, Reply, World, walk

PHONE = "06 12 34 56 78"
NUMBERS = ("15", "17", "112", "3114")


def assert_emergency_numbers_first(card: dict[str, object]) -> None:
    """The red box with 15, 17, 112 and 3114 comes before anything else said about the request."""
    blocks = [n for n in walk(card) if n.get("type") == "Container" and n.get("style") == "attention"]
    assert blocks, "no emergency numbers on this urgent card"
    shown = " ".join(str(n["text"]) for n in walk(blocks[0]) if n.get("type") == "TextBlock")
    assert all(number in shown for number in NUMBERS)
    body = card["body"]
    assert isinstance(body, list)
    heading = next(i for i, n in enumerate(body) if n.get("text") == texts.URGENT_TITLE)
    assert body.index(blocks[0]) == heading + 1  # right under the title


async def file_urgent(agent: Person, description: str = "Menace d'expulsion demain") -> Reply:
    form = await agent.say("urgence")
    assert_emergency_numbers_first(form.card)
    return await agent.submit(form.action(texts.URGENT_SEND), description=description, phone=PHONE, availability="")


def reference_of(reply: Reply) -> str:
    return reply.text.split("Référence : ")[1].split(".")[0]


async def test_the_agent_is_told_who_calls_back_once_she_is_reached_then_that_she_took_it(world: World):
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("bonjour")  # she once wrote to the bot: Teams can reach her
    agent = world.person("Agent Vanves")
    filed = await file_urgent(agent)

    # Not yet reached: the request is recorded, the deadline given, nobody named yet.
    assert_emergency_numbers_first(filed.card)
    reference = reference_of(filed)
    assert texts.URGENT_RECEIVED.format(deadline="lundi 1er mars 2027 à 13 h", reference=reference) in filed.text
    assert "transmise" not in filed.text and "Assistante sociale" not in filed.text

    sent = await world.deliver()
    assert [a.conversation.id for a in sent] == [social.conversation_id, agent.conversation_id]
    assert reference in Reply(sent[:1]).text  # her notice, in her own chat
    reached = Reply(sent[1:])
    assert_emergency_numbers_first(reached.card)
    assert texts.URGENT_REACHED.format(reference=reference, deadline="lundi 1er mars 2027 à 13 h") in reached.text
    assert "transmise à l'assistante sociale du travail" in reached.text

    listing = await social.say("urgences")
    await social.submit(listing.action(texts.TAKE_IT))
    taken = Reply(await world.deliver())
    assert [a.conversation.id for a in taken.activities] == [agent.conversation_id]
    assert_emergency_numbers_first(taken.card)
    assert texts.URGENT_TAKEN.format(who=texts.URGENT_TAKER_TITULAR, reference=reference) in taken.text

    # Taken before her acknowledgement was due: no e-mail, no escalation later.
    world.clock.advance(timedelta(hours=6))
    assert await world.app.urgent.escalate_due(world.clock()) == 0
    assert await world.deliver() == []


async def test_nobody_reachable_gives_the_agent_the_hotline_at_once(world: World):
    # Neither worker ever opened the bot and the local calendar sends no e-mail: no channel at all.
    # She is told at once, in the answer to her request: no « we are telling her » before.
    agent = world.person("Agent Lyon")
    filed = await file_urgent(agent)
    assert_emergency_numbers_first(filed.card)
    reference = filed.text.split("référence de votre demande : ")[1].split(")")[0]
    urgent = world.deployment.urgent
    assert (
        texts.URGENT_ACK_HOTLINE.format(reference=reference, name=urgent.hotline_name, phone=urgent.hotline_phone)
        in filed.text
    )
    assert "01 99 00 99 99" in filed.text
    assert await world.deliver() == []  # the clock does not move: nothing else is said
    async with world.store.unit_of_work(read_only=True) as uow:
        (request,) = await uow.urgent.open_requests()
    assert request.handler_id is None and request.step == len(request.route) - 1 == 2


async def test_the_replacement_is_reached_at_once_when_the_worker_cannot_be(world: World):
    replacement = world.person("Remplaçante", REPLACEMENT_OID)
    await replacement.say("aide")
    agent = world.person("Agent Rennes")
    filed = await file_urgent(agent)
    reference = reference_of(filed)
    sent = await world.deliver()
    assert [a.conversation.id for a in sent] == [replacement.conversation_id, agent.conversation_id]
    told = Reply(sent[1:])
    assert_emergency_numbers_first(told.card)
    assert "transmise à sa remplaçante" in told.text and reference in told.text
    async with world.store.unit_of_work(read_only=True) as uow:
        (request,) = await uow.urgent.open_requests()
    assert request.handler_id == "remplacante" and request.reached


async def test_the_app_installed_for_a_worker_makes_her_reachable_before_she_writes(world: World):
    social = world.person("Assistante sociale", WORKER_OID)
    before = {r.worker_id: r for r in await world.app.people.reachability()}
    assert before["ass"].entra_identity and before["ass"].mailbox and not before["ass"].teams_conversation
    # What Teams sends when the app is installed for her (through Graph): no message from her.
    silent = await social._run(Activity(type=ActivityTypes.installation_update, action="add"))
    assert silent.activities == []
    after = {r.worker_id: r for r in await world.app.people.reachability()}
    assert after["ass"].teams_conversation and not after["remplacante"].teams_conversation
    assert not any(WORKER_OID in repr(r) for r in after.values())  # facts, no identifier

    agent = world.person("Agent Lille")
    await file_urgent(agent)
    sent = await world.deliver()
    assert [a.conversation.id for a in sent] == [social.conversation_id, agent.conversation_id]


async def test_a_notice_not_taken_in_time_leaves_the_request_with_her_until_the_deadline(world: World):
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("aide")
    agent = world.person("Agent Grenoble")
    await file_urgent(agent)
    assert len(await world.deliver()) == 2
    # The acknowledgement is overdue: the e-mail is tried (the local calendar has none), she stays
    # in charge (she was reached on Teams) and the agent is not told anything new.
    world.clock.advance(timedelta(minutes=16))
    assert await world.deliver() == []
    async with world.store.unit_of_work(read_only=True) as uow:
        (request,) = await uow.urgent.open_requests()
        statuses = await uow.outbox.statuses(request.id)
    assert request.handler_id == "ass" and request.step == 0
    assert ("urgent.ack_check", "done", 1) in statuses
