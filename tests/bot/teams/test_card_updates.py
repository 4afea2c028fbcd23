"""Earlier cards are updated in place when their appointment changes (Teams updateActivity):
they then say what happened and no longer offer actions that cannot apply."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot import texts
from tests.bot.conftest import Reply, World, walk
from tests.helpers.conversation import appointments, book, worker


def submits(card: dict[str, Any]) -> list[str]:
    return [n["data"]["action"] for n in walk(card) if n.get("type") == "Action.Submit"]


def said(card: dict[str, Any]) -> str:
    return "\n".join(n["text"] for n in walk(card) if n.get("type") == "TextBlock")


def updated_in(reply: Reply, card_id: str) -> list[dict[str, Any]]:
    """The cards this turn put in place of `card_id` itself (Turn.replace)."""
    return [a.attachments[0].content for a in reply.activities if a.id == card_id and a.attachments]


async def test_cancelling_from_my_appointments_updates_the_list_and_its_other_cards(world: World) -> None:
    agent = world.person("Agent Siège")
    await book(agent, "chasseneuil", mode="in_person")
    await book(agent, "chasseneuil", mode="in_person", index=1)
    mine = await agent.say("mes rendez-vous")
    assert submits(mine.card).count("cancel") == 2
    world.updates()
    # An earlier « Annuler ? » card for the same appointment, left unanswered, and the one answered.
    forgotten = await agent.click(mine, mine.action(texts.CANCEL))
    ask = await agent.click(mine, mine.action(texts.CANCEL))
    done = await agent.click(ask, ask.action(texts.CANCEL_YES))
    assert texts.CANCELLED.format(date="jeudi 4 mars 2027 à 9 h") in done.text
    assert texts.ERROR not in done.text
    (replaced,) = updated_in(done, ask.card_id)  # the answered card says it is done
    assert submits(replaced) == []
    updates = world.updates()
    listing = updates[mine.card_id]
    assert "cancel" not in submits(listing) and "move" not in submits(listing)
    assert submits(listing) == ["mine"]  # one way on: the list as it is now
    assert texts.CARD_CHANGED["cancelled"] in said(listing)
    assert "jeudi 4 mars 2027 à 9 h" in said(listing) and texts.CARD_LIST_OUTDATED in said(listing)
    assert submits(updates[forgotten.card_id]) == ["mine"]
    assert texts.CARD_CHANGED["cancelled"] in said(updates[forgotten.card_id])
    # The cards were forgotten once updated: nothing more is rewritten on the next change.
    fresh = await agent.say("mes rendez-vous")
    assert submits(fresh.card).count("cancel") == 1
    ask = await agent.click(fresh, fresh.action(texts.CANCEL))
    await agent.click(ask, ask.action(texts.CANCEL_YES))
    assert set(world.updates()) == {fresh.card_id, ask.card_id}
    assert [status for status, _ in await appointments(world)] == ["cancelled", "cancelled"]


async def test_moving_updates_the_earlier_list(world: World) -> None:
    agent = world.person("Agent Siège")
    await book(agent, "chasseneuil", mode="in_person")
    mine = await agent.say("mes rendez-vous")
    slots = await agent.click(mine, mine.action(texts.MOVE))
    summary = await agent.click(slots, slots.actions("pick")[1])
    world.updates()
    done = await agent.click(slots, summary.action(texts.CONFIRM))
    assert texts.MOVED_TITLE in done.text
    updates = world.updates()
    assert texts.CARD_CHANGED["moved"] in said(updates[mine.card_id])
    assert texts.CARD_CHANGED_MOVED_TO.format(date="jeudi 4 mars 2027 à 11 h") in said(updates[mine.card_id])
    assert submits(updates[mine.card_id]) == ["mine"]


async def test_a_worker_decision_updates_her_requests_card_and_the_agent_list(world: World) -> None:
    agent = world.person("Agent Lille")
    await book(agent, "lille", mode="home_visit")
    mine = await agent.say("mes rendez-vous")
    social = await worker(world)
    await social.say("aide")
    requests = await social.say("demandes")
    assert submits(requests.card).count("accept") == 1
    world.updates()
    decided = await social.click(requests, requests.action(texts.DECLINE))
    assert texts.DECIDED_DECLINED in decided.text
    updates = world.updates()
    assert set(updates) == {mine.card_id, requests.card_id}
    assert submits(updates[requests.card_id]) == ["requests"]
    assert texts.CARD_CHANGED["declined"] in said(updates[requests.card_id])
    assert "Agent Lille" not in str(updates[requests.card_id])  # the rewritten card shows nobody
    assert submits(updates[mine.card_id]) == ["mine"]
    assert texts.CARD_CHANGED["declined"] in said(updates[mine.card_id])


async def test_an_outlook_move_keeps_its_choice_card_until_the_agent_cancels(world: World) -> None:
    from booking.model import Interval
    from graph.provider import CalendarChange, ChangeKind, SyncResult

    agent = world.person("Agent")
    await book(agent, "vanves")
    mine = await agent.say("mes rendez-vous")
    async with world.store.unit_of_work(read_only=True) as uow:
        (stored,) = await uow.appointments.upcoming_for_agent(
            (await uow.agents.find(agent.object_id)) or "", world.clock()
        )
    new = Interval(start=datetime(2027, 3, 11, 13, tzinfo=UTC), end=datetime(2027, 3, 11, 13, 45, tzinfo=UTC))
    change = CalendarChange(kind=ChangeKind.UPSERT, event_id=stored.outlook_event_id or "", interval=new, busy=True)
    world.updates()
    world.sent_ids()
    assert (await world.app.outlook.apply("ass", SyncResult(changes=(change,)), world.clock()))["moved"] == 1
    (sent,) = await world.deliver()
    (choice_id,) = world.sent_ids()
    assert submits(sent.attachments[0].content) == ["accept_change", "mine", "mine"]
    updates = world.updates()
    assert set(updates) == {mine.card_id}  # the list changed; the choice card is about that move
    assert texts.CARD_CHANGED_MOVED_TO.format(date="jeudi 11 mars 2027 à 14 h") in said(updates[mine.card_id])
    fresh = await agent.say("mes rendez-vous")
    ask = await agent.click(fresh, fresh.action(texts.CANCEL))
    await agent.click(ask, ask.action(texts.CANCEL_YES))
    updates = world.updates()
    assert choice_id in updates and fresh.card_id in updates
    assert submits(updates[choice_id]) == ["mine"]
    assert texts.CARD_CHANGED["cancelled"] in said(updates[choice_id])


async def test_accepting_an_outlook_change_replaces_the_choice_card(world: World) -> None:
    from booking.model import Interval
    from graph.provider import CalendarChange, ChangeKind, SyncResult

    agent = world.person("Agent")
    await book(agent, "vanves")
    async with world.store.unit_of_work(read_only=True) as uow:
        (stored,) = await uow.appointments.upcoming_for_agent(
            (await uow.agents.find(agent.object_id)) or "", world.clock()
        )
    new = Interval(start=datetime(2027, 3, 11, 13, tzinfo=UTC), end=datetime(2027, 3, 11, 13, 45, tzinfo=UTC))
    change = CalendarChange(kind=ChangeKind.UPSERT, event_id=stored.outlook_event_id or "", interval=new, busy=True)
    world.sent_ids()
    await world.app.outlook.apply("ass", SyncResult(changes=(change,)), world.clock())
    (sent,) = await world.deliver()
    choice = Reply([sent], world.sent_ids())
    reply = await agent.click(choice, {"action": "accept_change"})
    (replaced,) = updated_in(reply, choice.card_id)
    assert texts.CHANGE_ACCEPTED in said(replaced) and submits(replaced) == []
