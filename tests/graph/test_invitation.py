"""What the worker's Outlook event says, through the real msgraph-sdk against the local Graph: a
neutral subject, no place for remote modes, and the agent an attendee only when she asked for it
at booking (the offer on the summary card, through the real bot)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from botbuilder.core.adapters import TestAdapter

from bot import texts
from bot.bootstrap import Overrides, bootstrap
from bot.settings import Settings
from graph.client import GraphOptions
from graph.credentials import CredentialKind, graph_credential
from graph.microsoft import MicrosoftCalendar
from tests.bot.conftest import Clock, Person, Reply, World, sample_deployment, walk
from tests.bot.conftest import test_settings as bot_settings
from tests.graph.conftest import CLIENT_ID, MAILBOX, GraphWorld
from tests.graph.fake_graph import FakeGraph


def posted(world: GraphWorld | FakeGraph) -> list[dict[str, object]]:
    graph = world.graph if isinstance(world, GraphWorld) else world
    return [r.body for r in graph.graph_requests("POST", "/events")]


async def test_the_default_subject_is_neutral_and_names_neither_the_service_nor_the_person(world: GraphWorld):
    assert Settings(_env_file=None).event_subject == "Rendez-vous"
    await world.book("oid-1")
    await world.drain()
    (body,) = posted(world)
    dumped = json.dumps(body, ensure_ascii=False).lower()
    assert body["subject"] == "Rendez-vous"
    for leak in ("social", "logement", "sentinel", "oid-1"):
        assert leak not in dumped


async def test_nobody_is_invited_by_default(world: GraphWorld):
    await world.book("oid-1")
    await world.drain()
    (body,) = posted(world)
    assert "attendees" not in body
    assert world.graph.live_events(MAILBOX)[0]["attendees"] == []


async def test_the_agent_is_an_attendee_when_she_asked_and_a_move_keeps_it(world: GraphWorld):
    appointment_id = await world.book("oid-1", invite=True)
    await world.drain()
    (body,) = posted(world)
    assert [a["emailAddress"]["address"] for a in body["attendees"]] == ["oid-1@cned.example"]  # type: ignore[index]
    async with world.store.unit_of_work(read_only=True) as uow:
        stored = await uow.appointments.get(appointment_id)
    assert stored.invite_agent is True
    offer = await world.app.offers.offer(now=world.clock(), site_id="vanves", topic_id=None, days=60)
    await world.app.bookings.reschedule(
        now=world.clock(),
        agent_id=stored.appointment.agent_id,
        appointment_id=appointment_id,
        slot_key=offer.slots[3].key,
        site_id="vanves",
    )
    await world.drain()
    (patch,) = [r.body for r in world.graph.graph_requests("PATCH", "/events/")]
    assert [a["emailAddress"]["address"] for a in patch["attendees"]] == ["oid-1@cned.example"]


async def test_a_move_of_an_uninvited_appointment_invites_nobody(world: GraphWorld):
    appointment_id = await world.book("oid-1")
    await world.drain()
    async with world.store.unit_of_work(read_only=True) as uow:
        agent_id = (await uow.appointments.get(appointment_id)).appointment.agent_id
    offer = await world.app.offers.offer(now=world.clock(), site_id="vanves", topic_id=None, days=60)
    await world.app.bookings.reschedule(
        now=world.clock(),
        agent_id=agent_id,
        appointment_id=appointment_id,
        slot_key=offer.slots[3].key,
        site_id="vanves",
    )
    await world.drain()
    (patch,) = [r.body for r in world.graph.graph_requests("PATCH", "/events/")]
    assert "attendees" not in patch and "location" not in patch


@pytest.mark.parametrize("mode", ["teams", "phone", "home_visit"])
async def test_remote_modes_write_no_location(world: GraphWorld, mode: str):
    await world.book("oid-1", mode=mode)
    await world.drain()
    (body,) = posted(world)
    assert "location" not in body
    assert body["isOnlineMeeting"] is (mode == "teams")


async def test_in_person_gets_the_office(world: GraphWorld):
    await world.book("oid-1", mode="in_person", site="chasseneuil")
    await world.drain()
    (body,) = posted(world)
    assert body["location"]["displayName"] == "Bâtiment Vinci, bureau n° 16"  # type: ignore[index]


# -- through the real bot: the offer on the summary card reaches the booking ------------------


@pytest.fixture
async def teams(tmp_path, graph: FakeGraph) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    """The whole composition (`bootstrap`) with Microsoft Graph as the calendar, on the local Graph."""
    clock = Clock(datetime(2027, 3, 1, 8, 0, tzinfo=UTC))

    def calendar(settings: Settings) -> MicrosoftCalendar:
        credential = graph_credential(
            CredentialKind.SECRET,
            tenant_id=graph.tenant,
            client_id=CLIENT_ID,
            authority_host=graph.base,
            secret="graph-secret",
            ca_bundle=graph.ca_bundle,
        )
        return MicrosoftCalendar(credential, GraphOptions(base_url=f"{graph.base}/v1.0", attempts=2, max_wait=1.0))

    proactive = TestAdapter()
    runtime = await bootstrap(
        bot_settings(tmp_path / "var"),
        Overrides(clock=clock, channel=proactive, deployment=sample_deployment(), provider=calendar),
    )
    yield World(runtime, clock, proactive)
    await runtime.close()


async def summary_card(world: World, person: Person, *, mode: str = "teams") -> Reply:
    reply = await person.say("rendez-vous")
    reply = await person.submit(reply.action(texts.CONTINUE), site="vanves")
    # Teams gives her address; the test channel cannot answer the member lookup.
    async with world.store.unit_of_work() as uow:
        agent_id = await uow.agents.find(person.object_id)
        assert agent_id is not None
        await uow.agents.set_email(agent_id, "camille@cned.example", world.clock())
        await uow.commit()
    slots = await person.submit(reply.action(texts.SEE_SLOTS), mode=mode, topic="logement", message="", phone="")
    summary = await person.submit(slots.actions("pick")[0])
    assert texts.SUMMARY_TITLE in summary.text
    return summary


async def test_the_summary_offers_the_invitation_unticked_with_what_it_shows(teams: World):
    agent = teams.person("Camille")
    summary = await summary_card(teams, agent)
    (toggle,) = [n for n in walk(summary.card) if n.get("type") == "Input.Toggle"]
    assert toggle["title"] == texts.INVITE_LABEL == "Recevoir aussi une invitation dans mon agenda Outlook"
    assert toggle["value"] == toggle["valueOff"] == "false" and toggle["valueOn"] == "true"
    assert texts.INVITE_HINT in summary.text


async def test_ticking_the_invitation_makes_her_an_attendee(teams: World, graph: FakeGraph):
    agent = teams.person("Camille")
    summary = await summary_card(teams, agent)
    done = await agent.submit(summary.action(texts.CONFIRM), invite="true")
    assert texts.CONFIRMED_TITLE in done.text
    await teams.deliver()
    (body,) = posted(graph)
    assert [a["emailAddress"]["address"] for a in body["attendees"]] == ["camille@cned.example"]  # type: ignore[index]
    assert body["subject"] == "Rendez-vous" and "location" not in body


async def test_leaving_the_invitation_unticked_invites_nobody(teams: World, graph: FakeGraph):
    agent = teams.person("Camille")
    summary = await summary_card(teams, agent)
    await agent.submit(summary.action(texts.CONFIRM), invite="false")
    await teams.deliver()
    (body,) = posted(graph)
    assert "attendees" not in body


async def test_a_forged_invitation_value_is_refused_and_books_nothing(teams: World, graph: FakeGraph):
    agent = teams.person("Camille")
    summary = await summary_card(teams, agent)
    refused = await agent.submit(summary.action(texts.CONFIRM), invite="yes-please")
    assert texts.INVITE_LABEL in refused.text
    await teams.deliver()
    assert posted(graph) == []
    async with teams.store.unit_of_work(read_only=True) as uow:
        agent_id = await uow.agents.find(agent.object_id)
        assert agent_id is not None
        assert await uow.appointments.upcoming_for_agent(agent_id, teams.clock()) == []
    # The form stays usable.
    await agent.submit(summary.action(texts.CONFIRM), invite="true")
    await teams.deliver()
    assert len(posted(graph)) == 1


async def test_a_move_offers_no_new_invitation(teams: World):
    agent = teams.person("Camille")
    summary = await summary_card(teams, agent)
    await agent.submit(summary.action(texts.CONFIRM))
    mine = await agent.say("mes rendez-vous")
    slots = await agent.submit(mine.action(texts.MOVE))
    moving = await agent.submit(slots.actions("pick")[1])
    assert not [n for n in walk(moving.card) if n.get("type") == "Input.Toggle"]
