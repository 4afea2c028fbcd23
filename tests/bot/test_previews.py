"""The preview of every proactive message (what a Teams toast, the chat list or a locked phone
shows: the activity's text and summary, a card's fallback text and first line) is neutral: it
never names the social worker, the service's purpose, a topic or a person."""

from __future__ import annotations

from datetime import UTC, datetime

from botbuilder.schema import Activity

from booking.model import Interval
from bot import texts
from graph.provider import CalendarChange, ChangeKind, SyncResult
from tests.bot.conftest import REPLACEMENT_OID, WORKER_OID, World, said, walk
from tests.bot.test_journeys import PHONE, book

AGENT = "Dominique Lefèvre"
MESSAGE = "SENTINEL-loyer-impayé"
# Words that would tell who, why, or with whom, on a screen anyone may glance at.
REVEALING = (
    "assistante",
    "sociale",
    "social",
    "remplaçante",
    "Dominique",
    "Lefèvre",
    "SENTINEL",
    "Logement",
    "logement",
    "urgence",
    "urgente",
    "Rappel",
    "rendez-vous",
)


def previews(activity: Activity) -> list[str]:
    """Everything a host uses as the preview of this activity (a toast, the chat list, a locked
    phone): its text, its summary, a card's fallback text."""
    shown = [activity.text or "", activity.summary or ""]
    shown += [attachment.content.get("fallbackText", "") for attachment in activity.attachments or []]
    return shown


def assert_neutral(sent: list[Activity], expected: int) -> None:
    assert len(sent) == expected
    for activity in sent:
        assert not activity.text  # a plain text would be its own preview
        assert activity.summary == texts.PREVIEW
        for shown in previews(activity)[1:]:
            assert shown == texts.PREVIEW
        for word in REVEALING:
            assert word not in " ".join(previews(activity))
        # The card she opens starts with what it is about, not with the preview again (issue 26).
        (attachment,) = activity.attachments or []
        blocks = [n["text"] for n in walk(attachment.content) if n.get("type") == "TextBlock"]
        assert blocks and texts.PREVIEW not in blocks
    assert texts.PREVIEW == "Vous avez un nouveau message dans Permanence."


async def test_reminders_have_a_neutral_preview(world: World):
    agent = world.person(AGENT)
    await book(agent, "vanves", topic="logement", message=MESSAGE)  # Thursday 4 March, 9:00 Paris
    world.clock.now = datetime(2027, 3, 3, 8, 0, tzinfo=UTC)
    day = await world.deliver()
    assert_neutral(day, 1)
    assert said(day[0]) == texts.REMINDER_DAY.format(date="jeudi 4 mars 2027 à 9 h")  # the message itself is whole
    world.clock.now = datetime(2027, 3, 4, 7, 0, tzinfo=UTC)
    assert_neutral(await world.deliver(), 1)


async def test_requests_their_decision_and_the_teams_link_have_a_neutral_preview(world: World):
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("aide")
    first, second = world.person(AGENT), world.person("Camille Martin")
    await book(first, "lille", mode="home_visit", topic="logement", message=MESSAGE)
    await book(second, "lille", mode="home_visit", index=1)
    to_worker = await world.deliver()
    assert_neutral(to_worker, 2)
    assert texts.REQUEST_NEW_FOR_WORKER.split("(")[0] in said(to_worker[0])
    requests = await social.say("demandes")
    accept, decline = requests.actions("accept")[0], requests.actions("decline")[1]
    await social.submit(accept)
    await social.submit(decline)
    decided = await world.deliver()
    assert_neutral(decided, 2)
    assert {said(a).split(" ")[0] for a in decided} == {"Bonne", "Votre"}
    teams = world.person("Agent Teams")
    await book(teams, "vanves", index=2)
    async with world.store.unit_of_work(read_only=True) as uow:
        agent_id = await uow.agents.find(teams.object_id)
        assert agent_id is not None
        (stored,) = await uow.appointments.upcoming_for_agent(agent_id, world.clock())
    await world.deliver()
    world.clock.now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    await world.app.bookings.queue_link_notice(agent_id=agent_id, appointment_id=stored.id, now=world.clock())
    world.clock.now = datetime(2027, 3, 1, 9, 1, tzinfo=UTC)
    link = await world.deliver()
    assert_neutral(link, 1)
    assert any(n.get("type") == "Action.OpenUrl" for n in walk(link[0].attachments[0].content))


async def test_urgent_requests_and_their_taking_have_a_neutral_preview(world: World):
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("aide")
    agent = world.person(AGENT)
    await agent.say("aide")
    urgent = await agent.say("urgence")
    await agent.submit(urgent.action(texts.URGENT_SEND), description=MESSAGE, phone=PHONE, availability="")
    filed = await world.deliver()
    assert_neutral(filed, 2)  # to the worker, and to the agent: she was reached
    assert [a.conversation.id for a in filed] == [social.conversation_id, agent.conversation_id]
    listing = await social.say("urgences")
    await social.submit(listing.action(texts.TAKE_IT))
    taken = await world.deliver()
    assert_neutral(taken, 1)  # to the agent: the worker's name is in the message, not the preview
    assert texts.URGENT_TAKER_TITULAR in said(taken[0])
    assert world.person("Remplaçante", REPLACEMENT_OID)  # nobody else was told


async def test_changes_made_in_outlook_have_a_neutral_preview(world: World):
    agent = world.person(AGENT)
    await book(agent, "vanves", index=0)
    await book(agent, "vanves", index=1)
    await world.deliver()
    async with world.store.unit_of_work(read_only=True) as uow:
        moved, cancelled = await uow.appointments.upcoming_for_agent(
            (await uow.agents.find(agent.object_id)) or "", world.clock()
        )
    new = Interval(start=datetime(2027, 3, 11, 13, tzinfo=UTC), end=datetime(2027, 3, 11, 13, 45, tzinfo=UTC))
    changes = (
        CalendarChange(kind=ChangeKind.UPSERT, event_id=moved.outlook_event_id or "", interval=new, busy=True),
        CalendarChange(kind=ChangeKind.REMOVED, event_id=cancelled.outlook_event_id or ""),
    )
    counts = await world.app.outlook.apply("ass", SyncResult(changes=changes), world.clock())
    assert (counts["moved"], counts["cancelled"]) == (1, 1)
    sent = await world.deliver()
    assert_neutral(sent, 2)
    assert {said(a) for a in sent} == {
        texts.WORKER_MOVED.format(date="jeudi 11 mars 2027 à 14 h"),
        texts.WORKER_CANCELLED.format(date="jeudi 4 mars 2027 à 11 h"),
    }
